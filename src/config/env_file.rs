//! Where the variables of env files came from, so that a bad value names its file and line.

use std::path::PathBuf;

/// Where the variables of env files came from: the file and line of each one set from a
/// file. A variable not listed (but set) came from the process environment.
#[derive(Debug, Default)]
pub struct EnvOrigins(std::collections::HashMap<String, (PathBuf, usize)>);

impl EnvOrigins {
    /// Loads a dotenv file into the environment (values already set win), remembering
    /// the line of each variable it sets. A malformed line is an error naming its number,
    /// never its text (it may hold a secret).
    ///
    /// # Safety
    ///
    /// It sets environment variables: no other thread may be running (call it first in
    /// `main`).
    pub unsafe fn load(&mut self, path: &std::path::Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let items = dotenvy::from_path_iter(path).map_err(|e| match e {
            dotenvy::Error::Io(e) => format!("{}: {e}", path.display()),
            _ => format!("{}: cannot be read", path.display()),
        })?;
        for item in items {
            let (key, value) = match item {
                Ok(pair) => pair,
                Err(dotenvy::Error::LineParse(line, at)) => {
                    return Err(match text.find(&line) {
                        Some(i) => format!(
                            "{}: line {} is not KEY=VALUE (error at character {at})",
                            path.display(),
                            text[..i].matches('\n').count() + 1
                        ),
                        None => format!("{}: a line is not KEY=VALUE", path.display()),
                    });
                }
                Err(_) => return Err(format!("{}: cannot be read", path.display())),
            };
            if std::env::var_os(&key).is_some() {
                continue;
            }
            // SAFETY: the caller runs no other thread (this function's contract).
            unsafe { std::env::set_var(&key, &value) };
            self.0
                .insert(key.clone(), (path.to_path_buf(), line_of(&text, &key)));
        }
        Ok(())
    }

    /// Where `var`'s value came from: `PATH:LINE`, or the environment.
    pub fn origin(&self, var: &str) -> String {
        match self.0.get(var) {
            Some((path, line)) => format!("{}:{line}", path.display()),
            None => "the environment".to_owned(),
        }
    }

    /// `message` with the origin of each variable it names that came from a file, so a
    /// bad value can be found ("BETTER_AUTH_MCP_HTTP is set in server.env:3").
    pub fn annotate(&self, message: &str) -> String {
        let mut named: Vec<&String> = self
            .0
            .keys()
            .filter(|var| names_variable(message, var))
            .collect();
        named.sort();
        let mut out = message.to_owned();
        for var in named {
            out.push_str(&format!(" ({var} is set in {})", self.origin(var)));
        }
        out
    }

    /// clap's refusal of a value, told in terms of the variable when the value came from
    /// one (the user never passed the flag clap would name) and where it was set. None:
    /// the refusal is of the command line itself and clap's own text says it best.
    pub fn explain(
        &self,
        e: &clap::Error,
        cmd: &clap::Command,
        argv: &[std::ffi::OsString],
    ) -> Option<String> {
        use clap::error::{ContextKind, ContextValue};
        let flag = match e.get(ContextKind::InvalidArg)? {
            // "--name <VALUE>" or "--name[=<BOOL>]"
            ContextValue::String(flag) => flag
                .split(|c: char| c.is_whitespace() || c == '[' || c == '=')
                .next()?
                .to_owned(),
            _ => return None,
        };
        let long = flag.strip_prefix("--")?;
        let passed = argv
            .iter()
            .skip(1)
            .filter_map(|a| a.to_str())
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        if passed {
            return None;
        }
        let arg = all_args(cmd).find(|a| a.get_long() == Some(long))?;
        let var = arg.get_env()?.to_str()?.to_owned();
        // A secret's value is never shown, nor the parser's reason (it could quote it).
        if arg.is_hide_env_values_set() {
            return Some(format!(
                "{var} (set in {}) has an invalid value",
                self.origin(&var)
            ));
        }
        let value = match e.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(v)) => format!(" '{v}'"),
            _ => String::new(),
        };
        let why = std::error::Error::source(e)
            .map(|cause| format!(": {cause}"))
            .or_else(|| match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => {
                    Some(format!(": expected one of {}", valid.join(", ")))
                }
                _ => None,
            })
            .unwrap_or_default();
        Some(format!(
            "{var} (set in {}) has an invalid value{value}{why}",
            self.origin(&var)
        ))
    }
}

/// Every argument of `cmd` and its subcommands.
fn all_args(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments()
        .chain(cmd.get_subcommands().flat_map(|s| s.get_arguments()))
}

/// Whether `message` names `var` as a word (not as part of a longer name).
fn names_variable(message: &str, var: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    message
        .match_indices(var)
        .any(|(i, _)| !message[..i].ends_with(word) && !message[i + var.len()..].starts_with(word))
}

/// The line (from 1) where `key` is assigned in an env file's text.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_env_file_names_the_line_and_not_its_text() {
        let dir = std::env::temp_dir().join(format!("bam-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.env");
        // The bad line comes before any variable: nothing is set in the test runner's
        // (multi-threaded) environment.
        std::fs::write(
            &path,
            "# comment\n\nthis line has a s3cr3t-value in it\nBAM_ENV_FILE_TEST=1\n",
        )
        .unwrap();
        // SAFETY: the file's first variable line is malformed, so no variable is set.
        let err = unsafe { EnvOrigins::default().load(&path) }.unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
