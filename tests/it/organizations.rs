//! The organizations toolset beside a real Better Auth app with the organization plugin
//! (tests/better-auth/app.mjs, `organization: true`): check_permission agrees with the
//! plugin's own hasPermission for every kind of member, get_user and list_organizations
//! show what the app wrote, and a deployment without the plugin says so.

use serde_json::{Value, json};

use crate::support::backend::{Backend, Setup, on_both_backends};
use crate::support::better_auth_app::{BASE_URL, BetterAuthApp};
use crate::support::http::{HttpServer, answer, tool_call};
use crate::support::pg::TestDb;
use crate::support::server::{Server, ServerEnv, code_of};
use crate::support::{free_port, tempdir};

const SECRET: &str = "shared-secret-with-the-web-app-0123456789abcdef";
const PASSWORD: &str = "correct horse battery";
/// The members' roles beside the owner: code roles, a custom one, a dynamic one, and two
/// of each.
const ROLES: [&str; 6] = [
    "admin",
    "member",
    "auditor",
    "reviewer",
    "member,auditor",
    "member,reviewer",
];

/// check_permission's answer, which must be a success.
async fn check(server: &Server, args: Value) -> Value {
    server.ok("check_permission", args).await
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// A user signed up in the app: its id and its session token.
fn sign_up(app: &BetterAuthApp, email: &str) -> (String, String) {
    let up = app.run("sign-up", json!({"email": email, "password": PASSWORD}));
    (
        str_of(&up["user"]["id"]).into(),
        str_of(&up["token"]).into(),
    )
}

/// What is asked of every member: single and several actions, several resources, the
/// custom and dynamic resources, unknown resources, empty lists and an empty ask.
fn asks() -> Vec<Value> {
    let asks = json!([
        {"organization": ["update"]}, {"organization": ["delete"]},
        {"organization": ["update", "delete"]}, {"member": ["create"]},
        {"member": ["create", "update", "delete"]}, {"invitation": ["cancel"]},
        {"team": ["create"], "invitation": ["create"]}, {"ac": ["read"]}, {"ac": ["read", "create"]},
        {"project": ["read"]}, {"project": ["delete"]}, {"project": ["create", "read", "delete"]},
        {"project": ["read"], "ac": ["read"]}, {"project": ["read"], "member": ["create"]},
        {"billing": ["read"]}, {"project": ["read"], "billing": ["read"]},
        {"member": []}, {"ac": []}, {}
    ]);
    asks.as_array().unwrap().clone()
}

/// One database, the app with the organization plugin migrated on it, and a server of
/// the auth and organizations toolsets whose roles file is the app's code roles.
struct Deployment {
    _db: TestDb,
    app: BetterAuthApp,
    env: ServerEnv,
    _home: tempfile::TempDir,
}

impl Deployment {
    /// With `uuid`, the app's `generateId: "uuid"` (uuid columns, made by the database).
    fn new(uuid: bool) -> Self {
        let db = TestDb::create();
        let app = BetterAuthApp::new(&db, SECRET, uuid).with_organizations();
        let migrated = app.run("migrate", json!({}));
        for table in ["organization", "member", "organizationRole"] {
            assert!(
                migrated["created"]
                    .to_string()
                    .contains(&format!("\"{table}\"")),
                "{migrated}"
            );
        }
        let home = tempdir();
        let roles = home.path().join("organization-roles.json");
        std::fs::write(&roles, app.run("org-roles", json!({})).to_string()).unwrap();
        let env = ServerEnv::postgres(home.path(), &db.neon_url())
            .with("BETTER_AUTH_SECRET", SECRET)
            .with("BETTER_AUTH_URL", BASE_URL)
            .with("BETTER_AUTH_MCP_TOOLSETS", "auth,organizations")
            .with("ORGANIZATION_ROLES_FILE", &roles.display().to_string());
        Self {
            _db: db,
            app,
            env,
            _home: home,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_permission_agrees_with_the_plugins_has_permission_for_every_member() {
    agrees_with_has_permission(false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn check_permission_agrees_with_the_plugins_has_permission_with_uuid_ids() {
    agrees_with_has_permission(true).await
}

async fn agrees_with_has_permission(uuid: bool) {
    let deployment = Deployment::new(uuid);
    let (app, env) = (&deployment.app, &deployment.env);
    let (_, owner) = sign_up(app, "owner@example.com");
    let org = app.run(
        "create-organization",
        json!({"token": owner, "name": "Acme", "slug": "acme"}),
    );
    let org_id = str_of(&org["id"]).to_owned();
    // A dynamic role, created by the owner as the app's users do.
    let created = app.run(
        "create-org-role",
        json!({"token": owner, "organizationId": org_id, "role": "Reviewer",
               "permission": {"project": ["read", "delete"], "member": ["create"]}}),
    );
    assert_eq!(created["success"], true, "{created}");
    let mut members = vec![("owner", owner)];
    for role in ROLES {
        let (id, token) = sign_up(app, &format!("{}@example.com", role.replace(',', "-")));
        let added = app.run(
            "add-member",
            json!({"userId": id, "organizationId": org_id, "role": role}),
        );
        assert_eq!(added["role"], role, "{added}");
        members.push((role, token));
    }
    let (_, outsider) = sign_up(app, "outsider@example.com");

    let server = Server::start(env).await;
    let asks = asks();
    let mut granted = 0;
    for (role, token) in &members {
        let theirs = app.run(
            "has-permission",
            json!({"token": token, "organizationId": org_id, "asks": asks}),
        );
        for (ask, expected) in asks.iter().zip(theirs["results"].as_array().unwrap()) {
            let ours = check(
                &server,
                json!({"token": token, "organizationId": org_id, "permissions": ask}),
            )
            .await;
            assert!(
                expected.is_boolean(),
                "{role} {ask}: the app answered {expected}"
            );
            assert_eq!(ours["allowed"], *expected, "{role} asking {ask}: {ours}");
            assert_eq!(ours["organizationId"], org_id.as_str());
            let roles: Vec<&str> = role.split(',').collect();
            assert_eq!(ours["roles"], json!(roles));
            granted += usize::from(expected == true);
        }
    }
    assert!(
        granted > 20,
        "the table asks things that are granted ({granted})"
    );

    // Without organizationId: the active organization, which createOrganization set on the
    // owner's session and which no other member's session has.
    let (_, owner_token) = &members[0];
    let active = check(
        &server,
        json!({"token": owner_token, "permissions": {"organization": ["delete"]}}),
    )
    .await;
    assert_eq!(
        active,
        json!({"allowed": true, "organizationId": org_id, "roles": ["owner"]})
    );
    let (_, admin_token) = &members[1];
    let none = server
        .err(
            "check_permission",
            json!({"token": admin_token, "permissions": {"member": ["create"]}}),
        )
        .await;
    assert!(
        none.starts_with("INVALID_ARGUMENTS: organizationId: "),
        "{none}"
    );
    assert!(none.contains("no active organization"), "{none}");

    // A non-member is allowed nothing, as is anyone in an organization that does not exist.
    for (token, organization) in [(&outsider, org_id.as_str()), (owner_token, "no-such-org")] {
        let r = check(
            &server,
            json!({"token": token, "organizationId": organization,
                       "permissions": {"ac": ["read"]}}),
        )
        .await;
        assert_eq!(
            r,
            json!({"allowed": false, "organizationId": organization, "roles": []})
        );
    }
    let bad = server
        .err(
            "check_permission",
            json!({"token": owner_token, "permissions": {"member": "create"}}),
        )
        .await;
    assert!(bad.starts_with("INVALID_ARGUMENTS: permissions: "), "{bad}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_user_and_list_organizations_show_the_apps_memberships_and_active_organization() {
    memberships_and_active_organization(false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn get_user_and_list_organizations_show_the_apps_memberships_with_uuid_ids() {
    memberships_and_active_organization(true).await
}

async fn memberships_and_active_organization(uuid: bool) {
    let deployment = Deployment::new(uuid);
    let (app, env) = (&deployment.app, &deployment.env);
    let (_, owner) = sign_up(app, "founder@example.com");
    let (user_id, user) = sign_up(app, "staff@example.com");
    let first = app.run(
        "create-organization",
        json!({"token": owner, "name": "First", "slug": "first"}),
    );
    let second = app.run(
        "create-organization",
        json!({"token": owner, "name": "Second", "slug": "second"}),
    );
    let (first_id, second_id) = (str_of(&first["id"]), str_of(&second["id"]));
    app.run(
        "add-member",
        json!({"userId": user_id, "organizationId": second_id, "role": "admin"}),
    );
    app.run(
        "add-member",
        json!({"userId": user_id, "organizationId": first_id, "role": "member,auditor"}),
    );
    let server = Server::start(env).await;

    // In the order the user joined them; no active organization until the app sets one.
    let listed = server
        .ok("list_organizations", json!({"token": user}))
        .await;
    let expected = json!([
        {"id": second_id, "name": "Second", "slug": "second", "roles": ["admin"]},
        {"id": first_id, "name": "First", "slug": "first", "roles": ["member", "auditor"]},
    ]);
    assert_eq!(listed, json!({"organizations": expected}));
    let got = server.ok("get_user", json!({"token": user})).await;
    assert_eq!(got["user"]["id"], user_id.as_str());
    assert_eq!(got["organizations"], expected);
    assert_eq!(got["activeOrganizationId"], Value::Null);
    app.run(
        "set-active-organization",
        json!({"token": user, "organizationId": first_id}),
    );
    let got = server.ok("get_user", json!({"token": user})).await;
    assert_eq!(got["activeOrganizationId"], first_id);

    // A session made here: its access token names it (sid), and the app can set its
    // active organization too.
    let inn = server
        .ok(
            "sign_in",
            json!({"email": "staff@example.com", "password": PASSWORD}),
        )
        .await;
    let access = str_of(&inn["token"]);
    let got = server.ok("get_user", json!({"token": access})).await;
    assert_eq!(got["activeOrganizationId"], Value::Null);
    assert_eq!(got["organizations"], expected);
    app.run(
        "set-active-organization",
        json!({"token": inn["sessionToken"], "organizationId": second_id}),
    );
    let got = server.ok("get_user", json!({"token": access})).await;
    assert_eq!(got["activeOrganizationId"], second_id);
    let r = check(
        &server,
        json!({"token": access, "permissions": {"member": ["delete"]}}),
    )
    .await;
    assert_eq!(
        r,
        json!({"allowed": true, "organizationId": second_id, "roles": ["admin"]})
    );
    // Over authorized HTTP the tools answer for the caller when no token is given: here
    // the access token's session, whose active organization the app set.
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/mcp");
    let http_env = env
        .clone()
        .with("BETTER_AUTH_MCP_REQUIRE_AUTH", "true")
        .with("BETTER_AUTH_MCP_PUBLIC_URL", &public);
    let http = HttpServer::start_on(&http_env, port).await;
    let call = |name: &str, args: Value| {
        let request = tool_call(&reqwest::Client::new(), http.url(), name, args);
        answer(request.bearer_auth(access))
    };
    let listed = call("list_organizations", json!({})).await;
    assert_eq!(
        listed["result"]["structuredContent"],
        json!({"organizations": expected}),
        "{listed}"
    );
    let r = call(
        "check_permission",
        json!({"permissions": {"organization": ["delete"]}}),
    )
    .await;
    assert_eq!(
        r["result"]["structuredContent"],
        json!({"allowed": false, "organizationId": second_id, "roles": ["admin"]}),
        "{r}"
    );
    // A server without the organizations toolset reads nothing of the plugin.
    let auth_only = Server::start(&env.clone().with("BETTER_AUTH_MCP_TOOLSETS", "auth")).await;
    let got = auth_only.ok("get_user", json!({"token": user})).await;
    assert_eq!(
        got.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["user"]
    );
    auth_only.stop().await;
    // A user of no organization lists none.
    let (_, loner) = sign_up(app, "loner@example.com");
    let none = server
        .ok("list_organizations", json!({"token": loner}))
        .await;
    assert_eq!(none, json!({"organizations": []}));
    let got = server.ok("get_user", json!({"token": loner})).await;
    assert_eq!(got["organizations"], json!([]), "{got}");
    // Signed out, the access token gets neither its user nor their organizations.
    server
        .ok("sign_out", json!({"sessionToken": inn["sessionToken"]}))
        .await;
    for tool in ["get_user", "list_organizations"] {
        let gone = server.err(tool, json!({"token": access})).await;
        assert!(gone.starts_with("INVALID_TOKEN"), "{tool}: {gone}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_organization_tables_the_tools_say_plugin_not_enabled_and_get_user_has_only_the_user()
 {
    let db = TestDb::create();
    let home = tempdir();
    let postgres = ServerEnv::postgres(home.path(), &db.neon_url());
    let sqlite = ServerEnv::sqlite(home.path());
    for env in [postgres, sqlite] {
        let server =
            Server::start(&env.with("BETTER_AUTH_MCP_TOOLSETS", "auth,organizations")).await;
        let up = server.sign_up("plain@example.com", PASSWORD).await;
        let token = str_of(&up["token"]);
        for (tool, args) in [
            ("list_organizations", json!({"token": token})),
            (
                "check_permission",
                json!({"token": token, "organizationId": "x", "permissions": {"ac": ["read"]}}),
            ),
        ] {
            let text = server.err(tool, args).await;
            assert_eq!(code_of(&text), "PLUGIN_NOT_ENABLED", "{tool}: {text}");
            assert!(text.contains("organization tables not found"), "{text}");
        }
        let got = server.ok("get_user", json!({"token": token})).await;
        let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["user"], "{got}");
        server.stop().await;
    }
}

on_both_backends!(tables_an_app_made_are_read_and_those_it_adds_later_are_found);

/// The plugin's tables as its migration makes them, written by hand on either backend:
/// first without dynamic access control or the session's column, then with them.
async fn tables_an_app_made_are_read_and_those_it_adds_later_are_found(backend: Backend) {
    const AT: &str = "'2026-11-20T10:00:00.000Z'";
    let s = Setup::new(backend);
    let env = s
        .env
        .clone()
        .with("BETTER_AUTH_MCP_TOOLSETS", "auth,organizations");
    let migrated = env.command().arg("migrate").output().await.unwrap();
    assert!(migrated.status.success());
    s.sql(r#"create table "organization" ("id" text not null primary key, "name" text not null,
             "slug" text not null unique, "logo" text, "createdAt" timestamptz not null, "metadata" text)"#);
    s.sql(
        r#"create table "member" ("id" text not null primary key,
             "organizationId" text not null references "organization" ("id") on delete cascade,
             "userId" text not null references "user" ("id") on delete cascade,
             "role" text not null, "createdAt" timestamptz not null)"#,
    );
    let server = Server::start(&env).await;
    let up = server.sign_up("hand@example.com", PASSWORD).await;
    let (user_id, token) = (str_of(&up["user"]["id"]), str_of(&up["token"]));
    for (id, joined) in [
        ("org-b", "2026-11-20T09:00:00.000Z"),
        ("org-a", "2026-11-20T11:00:00.000Z"),
    ] {
        s.sql(&format!(
            r#"insert into "organization" ("id", "name", "slug", "createdAt") values ('{id}', 'Org {id}', '{id}', {AT})"#
        ));
        s.sql(&format!(
            r#"insert into "member" ("id", "organizationId", "userId", "role", "createdAt")
               values ('m-{id}', '{id}', '{user_id}', 'member,editor', '{joined}')"#
        ));
    }
    let got = server.ok("get_user", json!({"token": token})).await;
    assert_eq!(got["organizations"][0]["id"], "org-b", "{got}");
    assert_eq!(
        got["organizations"][1]["roles"],
        json!(["member", "editor"])
    );
    assert_eq!(got["activeOrganizationId"], Value::Null);
    let ask =
        json!({"token": token, "organizationId": "org-a", "permissions": {"project": ["read"]}});
    let before = server.ok("check_permission", ask.clone()).await;
    assert_eq!(before["allowed"], false, "no dynamic roles yet: {before}");

    s.sql(
        r#"create table "organizationRole" ("id" text not null primary key,
             "organizationId" text not null references "organization" ("id") on delete cascade,
             "role" text not null, "permission" text not null,
             "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz)"#,
    );
    s.sql(
        r#"insert into "organizationRole" ("id", "organizationId", "role", "permission")
             values ('r1', 'org-a', 'editor', '{"project":["read","create"]}')"#,
    );
    s.sql(r#"alter table "session" add column "activeOrganizationId" text"#);
    s.sql(&format!(
        r#"update "session" set "activeOrganizationId" = 'org-a' where "userId" = '{user_id}'"#
    ));
    let after = server.ok("check_permission", ask).await;
    assert_eq!(after["allowed"], true, "{after}");
    let active = check(
        &server,
        json!({"token": token, "permissions": {"project": ["create"]}}),
    )
    .await;
    assert_eq!(
        active,
        json!({"allowed": true, "organizationId": "org-a", "roles": ["member", "editor"]})
    );
    let got = server.ok("get_user", json!({"token": token})).await;
    assert_eq!(got["activeOrganizationId"], "org-a", "{got}");
    server.stop().await;
}
