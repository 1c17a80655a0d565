//! Micro-benchmarks: the cost of one password hash (what bounds sign_in), of signing and
//! verifying an access token, of one tool call in process (rmcp over an in-memory pipe,
//! no stdio). Run: `cargo bench --bench micro`.

use std::sync::Arc;

use better_auth_mcp::better_auth::credentials::access_token::AccessTokens;
use better_auth_mcp::better_auth::password::PasswordHasher;
use better_auth_mcp::better_auth::{
    AuthService, AuthSettings, PasswordFormat, PasswordPolicy, Secrets, SignUp,
};
use better_auth_mcp::mcp::{AuthServer, ToolSelection};
use better_auth_mcp::store::{DatabaseUrl, PoolSettings, Store};
use criterion::{Criterion, criterion_group, criterion_main};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;

const SECRET: &str = "benchmark-secret-0123456789abcdef-0123456789";

fn hashing(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let policy = PasswordPolicy::default();
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    for format in [PasswordFormat::Argon2id, PasswordFormat::Scrypt] {
        let hasher = PasswordHasher::new(1, 4, format);
        let password = better_auth_mcp::better_auth::Password::parse_new(
            "correct horse battery staple".into(),
            &policy,
        )
        .unwrap();
        let admission = hasher.admit().unwrap();
        let stored = rt.block_on(hasher.hash(&admission, &password)).unwrap();
        group.bench_function(format!("verify {format:?}"), |b| {
            b.iter(|| {
                rt.block_on(hasher.verify(&admission, &password, Some(stored.clone())))
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn tokens(c: &mut Criterion) {
    let t = AccessTokens::new(
        &SECRET.into(),
        Some("https://app.example.com".into()),
        900,
        30,
    )
    .unwrap();
    let token = t
        .issue(
            "Vq7Gd0Xk2mLs9PzR4tYw8NbC1hJe5UaF",
            "a@example.com",
            Some("sid"),
        )
        .unwrap()
        .token;
    c.bench_function("token sign (HS256)", |b| {
        b.iter(|| {
            t.issue(
                "Vq7Gd0Xk2mLs9PzR4tYw8NbC1hJe5UaF",
                "a@example.com",
                Some("sid"),
            )
        })
    });
    // 4096 different tokens in turn: more than are remembered, so each check is a first.
    let many: Vec<String> = (0..4096)
        .map(|i| {
            t.issue(&format!("user-{i}"), "a@example.com", Some("sid"))
                .unwrap()
                .token
        })
        .collect();
    let mut next = many.iter().cycle();
    c.bench_function(
        "token verify (HS256, all checks, a token not seen before)",
        |b| b.iter(|| t.verify(next.next().unwrap()).unwrap()),
    );
    c.bench_function(
        "token verify (HS256, a remembered token: clock checks only)",
        |b| b.iter(|| t.verify(&token).unwrap()),
    );
}

fn tool_call(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (client, token) = rt.block_on(async {
        let url =
            DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("b.db").display())).unwrap();
        let store = Store::open(&url, &PoolSettings::default()).await.unwrap();
        store.migrate().await.unwrap();
        let settings = AuthSettings {
            hash_concurrency: 2,
            ..AuthSettings::default()
        };
        let auth = AuthService::new(store, Secrets::single(SECRET.into()), settings).unwrap();
        let up = auth
            .sign_up(SignUp::new("bench@example.com", "bench-password-1"))
            .await
            .unwrap();
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let server = AuthServer::new(Arc::new(auth), &ToolSelection::default());
        tokio::spawn(async move {
            let running = server.serve(server_io).await.unwrap();
            let _ = running.waiting().await;
        });
        (().serve(client_io).await.unwrap(), up.access.unwrap().token)
    });
    let args = serde_json::json!({"token": token});
    let args = args.as_object().unwrap().clone();
    c.bench_function(
        "in-process verify_token tool call (rmcp, in-memory pipe)",
        |b| {
            b.iter(|| {
                let r = rt
                    .block_on(client.call_tool(
                        CallToolRequestParams::new("verify_token").with_arguments(args.clone()),
                    ))
                    .unwrap();
                assert_eq!(r.structured_content.unwrap()["valid"], true);
            })
        },
    );
}

criterion_group!(benches, hashing, tokens, tool_call);
criterion_main!(benches);
