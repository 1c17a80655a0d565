//! A real Better Auth 1.7 app (tests/better-auth/app.mjs, Node) on the same database as
//! the server under test. Its packages are installed on first use (`npm ci`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::pg::TestDb;

pub const BASE_URL: &str = "http://localhost:3000";

fn app_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/better-auth")
}

fn ensure_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        super::npm_installed(
            &app_dir(),
            &[
                "better-auth",
                "@better-auth/oauth-provider",
                "@better-auth/api-key",
                "drizzle-orm",
                "pg",
            ],
        );
    });
}

/// The Better Auth app, configured for one test database.
#[derive(Clone)]
pub struct BetterAuthApp {
    base: Value,
}

impl BetterAuthApp {
    pub fn new(db: &TestDb, secret: &str, uuid: bool) -> Self {
        ensure_installed();
        let url = format!(
            "postgresql://{}:{}@localhost:{}/{}",
            super::pg::APP_USER,
            super::pg::APP_PASSWORD,
            db.port,
            db.name
        );
        Self {
            base: json!({
                "url": url,
                "ca": db.ca_path.display().to_string(),
                "secret": secret,
                "baseURL": BASE_URL,
                "uuid": uuid,
            }),
        }
    }

    /// The same app with Better Auth's admin plugin (roles and bans).
    pub fn with_admin(mut self) -> Self {
        self.base["admin"] = Value::Bool(true);
        self
    }

    /// The same app with the api-key plugin (`@better-auth/api-key`), configured with
    /// `options` (its `apiKey({...})` options; `{}` for its defaults).
    pub fn with_api_keys(mut self, options: Value) -> Self {
        self.base["apiKey"] = Value::Bool(true);
        self.base["apiKeyOptions"] = options;
        self
    }

    /// The same app with the deviceAuthorization plugin (accepting the client id
    /// `better-auth-mcp`).
    pub fn with_device_authorization(mut self) -> Self {
        self.base["device"] = Value::Bool(true);
        self
    }

    /// The app served over HTTP on 127.0.0.1 (its API at `ServedApp::api`), until the
    /// returned handle is dropped.
    pub fn serve(&self) -> ServedApp {
        let port = super::free_port();
        let mut all = self.base.clone();
        all["port"] = json!(port);
        let mut child = Command::new("node")
            .arg(app_dir().join("app.mjs"))
            .arg("serve")
            .arg(all.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("the app prints a line");
        assert!(line.contains("listening"), "the app did not start: {line}");
        ServedApp {
            child,
            api: format!("http://127.0.0.1:{port}/api/auth"),
            http: reqwest::Client::new(),
        }
    }

    /// The same app with Better Auth's two-factor plugin.
    pub fn with_two_factor(mut self) -> Self {
        self.base["twoFactor"] = Value::Bool(true);
        self
    }

    /// The same app with Better Auth's organization plugin: its code roles (app.mjs's
    /// `orgRoles`, answered by the `org-roles` command) and dynamic access control.
    pub fn with_organizations(mut self) -> Self {
        self.base["organization"] = Value::Bool(true);
        self
    }

    /// The same app on Better Auth's Drizzle adapter (usePlural) over the schema its Drizzle
    /// generator writes: snake_case columns, plural tables; with the admin plugin.
    pub fn with_drizzle(mut self) -> Self {
        self.base["drizzle"] = Value::Bool(true);
        self
    }

    /// The same app with its tables in another PostgreSQL schema (its `search_path`).
    pub fn in_schema(mut self, schema: &str) -> Self {
        self.base["searchPath"] = Value::String(schema.into());
        self
    }

    /// The same app with Better Auth's OAuth provider plugin, issuing access tokens for
    /// `resources` (RFC 8707) that live `expires_in` seconds (its default, an hour: None).
    pub fn with_oauth_provider(mut self, resources: &[&str], expires_in: Option<u64>) -> Self {
        self.base["oauthResources"] = json!(resources);
        if let Some(secs) = expires_in {
            self.base["accessTokenExpiresIn"] = json!(secs);
        }
        self
    }

    /// The same app after a secret rotation: Better Auth's `secrets` option (the first
    /// entry current), its `secret` kept as the legacy secret.
    pub fn rotated(&self, secrets: &[(u32, &str)]) -> Self {
        let mut base = self.base.clone();
        base["secrets"] = secrets
            .iter()
            .map(|(version, value)| json!({"version": version, "value": value}))
            .collect();
        Self { base }
    }

    /// The same app with `emailAndPassword.requireEmailVerification`.
    pub fn requiring_email_verification(mut self) -> Self {
        self.base["requireEmailVerification"] = Value::Bool(true);
        self
    }

    /// Runs one command of app.mjs and returns its JSON answer.
    pub fn run(&self, command: &str, args: Value) -> Value {
        let mut all = self.base.clone();
        if let (Some(all), Some(args)) = (all.as_object_mut(), args.as_object()) {
            all.extend(args.clone());
        }
        let out = Command::new("node")
            .arg(app_dir().join("app.mjs"))
            .arg(command)
            .arg(all.to_string())
            .output()
            .expect("node runs");
        super::last_json_line(&out, &format!("better-auth app {command}"))
    }
}

/// A Better Auth app serving HTTP on loopback; stopped when dropped.
pub struct ServedApp {
    child: std::process::Child,
    /// The base URL of its API (Better Auth's /api/auth).
    pub api: String,
    http: reqwest::Client,
}

impl ServedApp {
    /// A request to the app's API at `path`, as the person's browser makes it: with the
    /// session of `token` (the bearer plugin) and the app's own origin.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .header("authorization", format!("Bearer {token}"))
            .header("origin", BASE_URL);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the app answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// What the person does on the app's /device page, signed in with `token`: opens it
    /// with the user code (the app claims the code for them), then approves (or denies).
    pub async fn decide(&self, token: &str, user_code: &str, approve: bool) -> (u16, Value) {
        let (status, page) = self
            .request(
                reqwest::Method::GET,
                &format!("/device?user_code={user_code}"),
                token,
                None,
            )
            .await;
        assert_eq!(status, 200, "the /device page: {page}");
        let path = if approve {
            "/device/approve"
        } else {
            "/device/deny"
        };
        self.request(
            reqwest::Method::POST,
            path,
            token,
            Some(json!({"userCode": user_code})),
        )
        .await
    }
}

impl Drop for ServedApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
