use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use better_auth_mcp::config::{Config, EnvOrigins, Settings};
use better_auth_mcp::mcp::ToolSelection;
use better_auth_mcp::{startup, telemetry};

/// An MCP server (stdio, or Streamable HTTP with --http) with the auth tools of a Better Auth deployment:
/// sign_up, sign_in, verify_token, get_user, refresh_token and sign_out.
///
/// Every setting is a flag or its environment variable, before or after the subcommand;
/// --env-file, or else `.env` in the working directory, provides variables too (values
/// already set win). With no DATABASE_URL it uses an embedded SQLite database.
#[derive(Parser)]
#[command(
    version,
    about,
    long_about,
    after_help = "Booleans take true/yes/on/1 or false/no/off/0. Logs go to stderr; RUST_LOG                   filters them (default: info). OTEL_EXPORTER_OTLP_ENDPOINT exports traces over OTLP/HTTP (README, Traces)."
)]
struct Cli {
    /// Load environment variables from this dotenv file instead of ./.env (values already
    /// set win).
    #[arg(long, value_name = "PATH", global = true)]
    env_file: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP on stdin/stdout (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Print the audit log's recent rows (AUDIT_LOG): oldest first, one per line.
    Audit {
        /// How far back: a duration (90s, 30m, 1h, 7d) or an RFC 3339 time.
        #[arg(long, value_name = "WHEN", default_value = "1h", value_parser = parse_since)]
        since: chrono::DateTime<chrono::Utc>,
        /// At most this many rows.
        #[arg(long, value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        limit: u32,
        /// One JSON object per line instead of tab-separated columns.
        #[arg(long)]
        json: bool,
    },
}

/// `--since`: a duration before now (`90s`, `30m`, `1h`, `7d`) or an RFC 3339 time.
fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number.parse().map_err(|_| {
        format!("{text:?} is neither a duration (90s, 30m, 1h, 7d) nor an RFC 3339 time")
    })?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    chrono::Duration::try_seconds(n.saturating_mul(seconds))
        .map(|back| chrono::Utc::now() - back)
        .ok_or_else(|| format!("{text:?} is too far back"))
}

/// The settings `migrate` uses: the database's. Its help lists only these.
const MIGRATE_USES: &[&str] = &[
    "env_file",
    "database_url",
    "database_pool_size",
    "database_connect_timeout_seconds",
    "database_pool_timeout_seconds",
    "database_prepared_statements",
    "database_schema",
    "database_schema_casing",
    "database_schema_tables",
];

/// The command line: every setting global (before or after the subcommand), and each
/// subcommand's help listing what it uses.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // Global arguments reach the subcommands when the command is built.
    cmd.build();
    for name in ["migrate", "audit"] {
        cmd = cmd.mut_subcommand(name, |m| {
            m.mut_args(|a| {
                let id = a.get_id().as_str();
                let used =
                    MIGRATE_USES.contains(&id) || ["help", "since", "limit", "json"].contains(&id);
                if used { a } else { a.hide(true) }
            })
        });
    }
    cmd
}

fn main() {
    // The env file is read before the command line, so its values serve as its fallbacks:
    // --env-file's, or else ./.env.
    let mut origins = EnvOrigins::default();
    let env_file = env_file_argument().or_else(|| {
        let dotenv = PathBuf::from(".env");
        dotenv.exists().then_some(dotenv)
    });
    // SAFETY: nothing else runs yet (logging and the async runtime start after it).
    let env_loaded = env_file.map_or(Ok(()), |path| unsafe { origins.load(&path) });
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cmd = command();
    let parsed = cmd
        .clone()
        .try_get_matches_from(&argv)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => match origins.explain(&e, &cmd, &argv) {
            Some(text) => {
                telemetry::init_logs();
                tracing::error!("{text}");
                std::process::exit(2);
            }
            None => e.exit(),
        },
    };
    // Logs, and traces when the OTEL_* variables ask for them: the exporter sends its
    // batches from a thread of its own, with a blocking HTTP client, off the runtime.
    let telemetry = match telemetry::init() {
        Ok(telemetry) => telemetry,
        Err(e) => {
            tracing::error!("{e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = env_loaded {
        tracing::error!("cannot load the env file {e}");
        std::process::exit(2);
    }
    let settings = &cli.settings;
    let tools = match ToolSelection::offered(
        settings.toolsets.as_deref(),
        settings.tools.as_deref(),
        settings.read_only,
        settings.http.is_some(),
    ) {
        Ok(tools) => tools,
        Err(e) => {
            tracing::error!("{}", origins.annotate(&e.to_string()));
            std::process::exit(2);
        }
    };
    let config = match Config::from_settings(settings) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("configuration: {}", origins.annotate(&e.to_string()));
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config, tools));
    // The spans of a short session are still queued: export them (from outside the
    // runtime: the shutdown blocks).
    telemetry.shutdown();
    // Exit at once: a blocking stdin read must not keep the process alive (rmcp #220).
    std::process::exit(code);
}

/// `--env-file PATH` or `--env-file=PATH`, read before clap parses the rest.
fn env_file_argument() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--env-file" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--env-file=")) {
            return Some(PathBuf::from(path));
        }
        if arg == "--" {
            break;
        }
    }
    None
}

async fn run(command: Command, config: Config, tools: ToolSelection) -> i32 {
    let result = match command {
        Command::Migrate => startup::open_store(&config).await.map(|_| ()),
        Command::Audit { since, limit, json } => {
            startup::print_audit(&config, since, limit, json).await
        }
        Command::Serve => {
            let shutdown = CancellationToken::new();
            spawn_signal_handler(shutdown.clone());
            // A signal while the database is still being reached stops at once.
            let built = tokio::select! {
                built = startup::build_service(&config) => built,
                () = shutdown.cancelled() => return 0,
            };
            async {
                let service = built?;
                startup::serve_metrics(&config, &service).await?;
                startup::prepare_audit(&config, &service).await?;
                match &config.http {
                    Some(http) => startup::serve_http(service, &tools, http, shutdown).await,
                    None => startup::serve_stdio(service, &tools, shutdown).await,
                }
            }
            .await
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    }
}

fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        terminate_or_interrupt().await;
        tracing::info!("signal received, stopping");
        shutdown.cancel();
    });
}

/// SIGTERM (how MCP clients stop servers) or Ctrl-C.
#[cfg(unix)]
async fn terminate_or_interrupt() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Ctrl-C, Ctrl-Break, or the console window closing (Windows' ways to stop a process).
#[cfg(windows)]
async fn terminate_or_interrupt() {
    use tokio::signal::windows::{ctrl_break, ctrl_close};
    match (ctrl_break(), ctrl_close()) {
        (Ok(mut brk), Ok(mut close)) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = brk.recv() => {}
                _ = close.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(any(unix, windows)))]
async fn terminate_or_interrupt() {
    let _ = tokio::signal::ctrl_c().await;
}
