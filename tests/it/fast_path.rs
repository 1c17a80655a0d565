//! The fast path of verify_token and get_user (src/mcp/fast.rs) answers exactly what rmcp
//! answers, byte for byte, and leaves to rmcp every request it does not recognise exactly.

use std::sync::Arc;

use better_auth_mcp::better_auth::RateLimitPolicy;
use better_auth_mcp::mcp::fast::{Fast, FastPath};
use better_auth_mcp::mcp::{AuthServer, ToolSelection};
use rmcp::ServiceExt;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::library::service;
use crate::support::tempdir;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

fn call(id: serde_json::Value, token: &str) -> String {
    tool_call("verify_token", id, token)
}

fn tool_call(tool: &str, id: serde_json::Value, token: &str) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{"token":token}}})
        .to_string()
}

/// The fast answer to `line`, waiting for it if it needs the store; None: rmcp's.
async fn fast_answer(fast: &mut FastPath, line: &str) -> Option<String> {
    let bytes = match fast.answer(line.as_bytes())? {
        Fast::Now(bytes) => bytes,
        Fast::Later(answer) => answer.await,
    };
    Some(String::from_utf8(bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fast_path_answers_verify_token_byte_for_byte_as_rmcp_does() {
    let dir = tempdir();
    let auth = Arc::new(service(dir.path(), RateLimitPolicy::default()).await);
    let up = auth
        .sign_up("fast@example.com", "password123".into(), None)
        .await
        .unwrap();
    let token = up.token.clone();
    let out = auth
        .sign_in("fast@example.com", "password123".into())
        .await
        .unwrap();
    auth.sign_out(&out.session.token).await.unwrap();
    // Each protocol version that has the initialize handshake, as rmcp answers it.
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let initialize = INITIALIZE.replace("2025-06-18", version);
        let server = AuthServer::new(auth.clone(), &ToolSelection::default());
        let mut fast = server.fast_path().expect("verify_token is offered");

        // rmcp alone, on raw lines, for the reference answers.
        let (client, server_io) = tokio::io::duplex(1 << 20);
        let (server_in, server_out) = tokio::io::split(server_io);
        tokio::spawn(async move {
            if let Ok(running) = server.serve((server_in, server_out)).await {
                let _ = running.waiting().await;
            }
        });
        let (client_in, mut client_out) = tokio::io::split(client);
        let mut answers = BufReader::new(client_in).lines();
        let mut rmcp = async |line: &str| -> Option<String> {
            client_out.write_all(line.as_bytes()).await.unwrap();
            client_out.write_all(b"\n").await.unwrap();
            if line.contains("\"id\"") {
                Some(answers.next_line().await.unwrap().unwrap())
            } else {
                None
            }
        };

        // Before the handshake completes, everything goes to rmcp.
        let early = call(json!(1), &token);
        assert!(fast.answer(early.as_bytes()).is_none());
        assert!(fast.answer(initialize.as_bytes()).is_none());
        let init = rmcp(&initialize).await.unwrap();
        assert!(
            init.contains(&format!(r#""protocolVersion":"{version}""#)),
            "{init}"
        );
        assert!(fast.answer(early.as_bytes()).is_none());
        assert!(fast.answer(INITIALIZED.as_bytes()).is_none());
        rmcp(INITIALIZED).await;

        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        let (header, _) = token.split_once('.').unwrap();
        let same_answer = [
            call(json!(1), &token),
            call(json!("req-é\"1"), &format!("Bearer {token}")),
            call(json!(7.0), &format!("  {token} ")),
            call(json!(-3), &tampered),
            call(json!(4), &format!("{header}.e30.AAAA")),
            call(json!(5), &format!("{header}.not-base64!.x")),
            // Members in another order, and a token with a JSON escape in it.
            format!(
                r#"{{"params":{{"arguments":{{"token":"{}"}},"name":"verify_token"}},"method":"tools/call","id":6,"jsonrpc":"2.0"}}"#,
                token.replacen('e', "\\u0065", 1)
            ),
        ];
        let same_answer = same_answer.into_iter().chain([
            tool_call("get_user", json!(20), &token),
            tool_call(
                "get_user",
                json!("u"),
                &format!("Bearer {}", up.session.token),
            ),
            // Signed out: INVALID_TOKEN; a credential of no known kind; a tampered token.
            tool_call("get_user", json!(21), &out.token),
            tool_call("get_user", json!(22), "not-a-token"),
            tool_call("get_user", json!(23), &tampered),
        ]);
        for line in same_answer {
            let quick = fast_answer(&mut fast, &line)
                .await
                .unwrap_or_else(|| panic!("the fast path takes {line}"));
            let reference = rmcp(&line).await.unwrap();
            assert_eq!(quick, reference, "for {line}");
        }

        // Anything else is rmcp's.
        let to_rmcp = [
            // Not an access token: a session token needs the store.
            call(json!(10), "abcdefghijklmnopqrstuvwxyz012345"),
            json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"verify_token","arguments":{"token":token},"_meta":{"progressToken":1}}}).to_string(),
            json!({"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"verify_token","arguments":{"token":token,"extra":1}}}).to_string(),
            json!({"jsonrpc":"1.0","id":13,"method":"tools/call","params":{"name":"verify_token","arguments":{"token":token}}}).to_string(),
            json!({"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"get_user","arguments":{"token":token}},"verify_token":1}).to_string(),
            json!({"jsonrpc":"2.0","id":24,"method":"tools/call","params":{"name":"get_user","arguments":{"token":token},"_meta":{}}}).to_string(),
            json!({"jsonrpc":"2.0","id":25,"method":"tools/call","params":{"name":"get_user","arguments":{"token":1}}}).to_string(),
            json!({"jsonrpc":"2.0","id":26,"method":"tools/call","params":{"name":"sign_out","arguments":{"sessionToken":"get_user"}}}).to_string(),
            json!({"jsonrpc":"2.0","id":15,"method":"tools/list","params":{"name":"verify_token"}}).to_string(),
            format!(r#"{{"jsonrpc":"2.0","id":18,"id":19,"method":"tools/call","params":{{"name":"verify_token","arguments":{{"token":"{token}"}}}}}}"#),
            call(json!(null), &token),
            call(json!([1]), &token),
        ];
        for line in &to_rmcp {
            assert!(fast.answer(line.as_bytes()).is_none(), "{line}");
        }
    }

    // A tool that is not offered is not answered; with neither, there is no fast path.
    let only_get_user = ToolSelection::new(Some(&["get_user".to_owned()]), false).unwrap();
    let mut fast = AuthServer::new(auth.clone(), &only_get_user)
        .fast_path()
        .unwrap();
    fast.answer(INITIALIZE.as_bytes());
    fast.answer(INITIALIZED.as_bytes());
    assert!(fast.answer(call(json!(30), &token).as_bytes()).is_none());
    assert!(
        fast_answer(&mut fast, &tool_call("get_user", json!(31), &token))
            .await
            .is_some()
    );
    let neither = ToolSelection::new(Some(&["sign_in".to_owned()]), false).unwrap();
    assert!(AuthServer::new(auth, &neither).fast_path().is_none());
}
