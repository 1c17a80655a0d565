//! Who the client of an HTTP request is: the socket's peer, or what a trusted proxy in
//! front says of it.

use std::net::IpAddr;

/// The client's address: the socket's peer, or, when the peer is a trusted proxy, the last
/// address of `X-Forwarded-For` that is not a trusted proxy (the ones before it could be
/// anything the client sent).
pub(super) fn client_address(
    peer: IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[IpAddr],
) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_names_it() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 198.51.100.7".parse().unwrap());
        assert_eq!(
            client_address(peer, &headers, &[proxy]),
            peer,
            "not a proxy"
        );
        assert_eq!(
            client_address(proxy, &headers, &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "the last address the proxy added, not what the client wrote before it"
        );
        let inner: IpAddr = "10.0.0.2".parse().unwrap();
        headers.insert("x-forwarded-for", "198.51.100.7, 10.0.0.2".parse().unwrap());
        assert_eq!(
            client_address(proxy, &headers, &[proxy, inner]),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "through two trusted proxies"
        );
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_address(proxy, &headers, &[proxy]), proxy);
    }
}
