//! Property tests over everything that parses untrusted input: emails, passwords, names,
//! tool arguments, access tokens and stdio lines. Bounded: a fixed number of cases each.

use better_auth_mcp::better_auth::credentials::access_token::AccessTokens;
use better_auth_mcp::better_auth::model::MAX_EMAIL_BYTES;
use better_auth_mcp::better_auth::{Email, Password, PasswordPolicy, TokenRejection, UserName};
use better_auth_mcp::mcp::args::check;
use better_auth_mcp::mcp::types::{SessionArgs, SignInArgs, SignUpArgs, TokenArgs};
use proptest::prelude::*;

use better_auth_mcp::better_auth::RateLimitPolicy;
use better_auth_mcp::mcp::{AuthServer, ToolSelection, stdio};

use crate::support::rpc::Raw;
use crate::support::server::SECRET;
use crate::support::tempdir;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn tokens() -> AccessTokens {
    AccessTokens::new(
        &SECRET.into(),
        Some("https://app.example.com".into()),
        900,
        30,
    )
    .unwrap()
}

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("email".to_string()),
                    Just("password".to_string()),
                    Just("name".to_string()),
                    Just("token".to_string()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn email_parsing_never_panics_and_normalises_once(raw in ".{0,300}") {
        if let Ok(email) = Email::parse(&raw) {
            let s = email.as_str();
            prop_assert!(s.len() <= MAX_EMAIL_BYTES);
            prop_assert_eq!(s, s.trim());
            prop_assert_eq!(s.to_lowercase(), s);
            prop_assert_eq!(Email::parse(s).unwrap(), email.clone());
        }
    }

    #[test]
    fn password_rules_count_utf16_units_and_never_panic(raw in ".{0,200}") {
        let policy = PasswordPolicy::default();
        let units = raw.encode_utf16().count();
        let ok = Password::parse_new(raw.clone(), &policy).is_ok();
        prop_assert_eq!(ok, (8..=128).contains(&units));
        prop_assert_eq!(Password::parse_existing(raw, &policy).is_ok(), units <= 128);
    }

    #[test]
    fn name_parsing_never_panics(raw in proptest::option::of(".{0,300}")) {
        let _ = UserName::parse(raw.as_deref());
    }

    #[test]
    fn tool_arguments_are_refused_exactly_when_they_do_not_fit_and_the_refusal_names_a_field(
        value in json()
    ) {
        let serde_json::Value::Object(arguments) = value else { return Ok(()) };
        fn compare<T: serde::de::DeserializeOwned + schemars::JsonSchema + 'static>(
            arguments: &serde_json::Map<String, serde_json::Value>,
        ) -> Result<(), TestCaseError> {
            let checked = check::<T>(arguments.clone());
            let serde = serde_json::from_value::<T>(serde_json::Value::Object(arguments.clone()));
            prop_assert_eq!(checked.is_ok(), serde.is_ok());
            if let Err(e) = checked {
                let field = e.field.clone().expect("a field is named");
                let text = e.to_string();
                prop_assert!(text.starts_with(&format!("{field}: ")), "{}", text);
                // No value is repeated (values long enough not to be a field name by chance).
                for v in arguments.values().filter_map(|v| v.as_str()).filter(|v| v.len() >= 12) {
                    prop_assert!(!text.contains(v), "{} repeats {:?}", text, v);
                }
            }
            Ok(())
        }
        compare::<SignUpArgs>(&arguments)?;
        compare::<SignInArgs>(&arguments)?;
        compare::<TokenArgs>(&arguments)?;
        compare::<SessionArgs>(&arguments)?;
    }

    #[test]
    fn arbitrary_strings_never_verify(raw in ".{0,400}") {
        prop_assert!(tokens().verify(&raw).is_err());
    }

    #[test]
    fn three_part_strings_never_verify(
        a in "[A-Za-z0-9_=-]{0,60}",
        b in "[A-Za-z0-9_=-]{0,200}",
        c in "[A-Za-z0-9_=-]{0,60}",
    ) {
        let token = format!("{a}.{b}.{c}");
        prop_assert!(tokens().verify(&token).is_err());
    }

    #[test]
    fn any_change_to_a_valid_token_is_rejected(index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let t = tokens();
        let token = t.issue("user-id", "a@example.com", None).unwrap().token;
        let mut bytes = token.clone().into_bytes();
        let i = index.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        // A change to base64url padding bits can decode to the same bytes; anything else fails.
        if let Ok(claims) = t.verify(&changed) {
            prop_assert_eq!(claims.sub, "user-id");
        }
    }

    #[test]
    fn rejections_are_named_reasons(raw in ".{0,100}") {
        if let Err(reason) = tokens().verify(&raw) {
            prop_assert!(!reason.as_str().is_empty());
            prop_assert!(reason != TokenRejection::SessionNotFound);
        }
    }
}

/// Whatever bytes arrive on stdin, the line after them is served: a ping sent after them
/// gets its answer, and every line the server writes meanwhile is JSON-RPC.
#[tokio::test(flavor = "multi_thread")]
async fn after_any_bytes_the_next_line_is_served_and_every_line_out_is_json_rpc() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use rmcp::ServiceExt;

    let dir = tempdir();
    let auth = crate::support::domain::service(dir.path(), RateLimitPolicy::default()).await;
    let server = AuthServer::new(std::sync::Arc::new(auth), &ToolSelection::default());
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(theirs);
    let transport = stdio::transport_on(Box::new(server_read), Box::new(server_write));
    tokio::spawn(async move {
        if let Ok(running) = server.serve(transport).await {
            let _ = running.waiting().await;
        }
    });
    let (read, write) = tokio::io::split(ours);
    let mut raw = Raw::new(read, write);
    raw.handshake().await;

    let mut runner = TestRunner::new(config());
    let strategy = prop::collection::vec(
        prop_oneof![
            any::<u8>().prop_map(|b| vec![b]),
            Just(b"\n".to_vec()),
            Just(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec()),
            Just(br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"verify_token","arguments":{"token":"a.b.c"}}}"#.to_vec()),
            Just(b"{\"a\":".to_vec()),
        ],
        0..64,
    );
    for i in 0..300 {
        let bytes: Vec<u8> = strategy.new_tree(&mut runner).unwrap().current().concat();
        raw.send_raw(&bytes).await;
        let id = serde_json::json!(format!("after-{i}"));
        raw.send_line("").await;
        raw.send_line(&serde_json::json!({"jsonrpc":"2.0","id":id,"method":"ping"}).to_string())
            .await;
        let answer = raw.answer_to(&id).await;
        assert!(answer.get("result").is_some(), "{answer}");
    }
}
