//! Which tools a server offers, over which transport (vendor MCP servers' `--tools` and
//! `--read-only`), and what would offer the others: the tool policy, in one place.

/// Every tool, in the order of the contract.
pub const ALL_TOOLS: &[&str] = &[
    "sign_up",
    "sign_in",
    "verify_token",
    "get_user",
    "refresh_token",
    "sign_out",
];
/// The tools of `--read-only`: they create nothing and take no password.
pub const READ_ONLY_TOOLS: &[&str] = &["verify_token", "get_user"];

/// Which tools a server offers (vendor MCP servers' `--tools` / `--read-only`), and what
/// would offer the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSelection {
    tools: Vec<&'static str>,
    read_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ToolSelectionError {
    #[error("unknown tool {0:?}; the tools are {ALL_TOOLS:?}")]
    Unknown(String),
    #[error("--read-only offers only {READ_ONLY_TOOLS:?}, not {0:?}")]
    NotReadOnly(String),
    #[error("--tools selects no tool")]
    Empty,
}

impl Default for ToolSelection {
    fn default() -> Self {
        Self {
            tools: ALL_TOOLS.to_vec(),
            read_only: false,
        }
    }
}

impl ToolSelection {
    /// The tools a server offers over its transport: those `named` (`--tools`; an empty
    /// list is unset, as every empty setting is: an MCP Bundle passes its optional fields
    /// as empty strings), narrowed to the read-only ones with `read_only`. Over HTTP the
    /// default is the read-only set: the password tools only when `named` names them.
    pub fn offered(
        named: Option<&[String]>,
        read_only: bool,
        over_http: bool,
    ) -> Result<Self, ToolSelectionError> {
        let named = named.filter(|names| names.iter().any(|n| !n.trim().is_empty()));
        Self::new(named, read_only || (over_http && named.is_none()))
    }

    /// `allow` (None: every tool), narrowed to the read-only tools when `read_only`.
    pub fn new(allow: Option<&[String]>, read_only: bool) -> Result<Self, ToolSelectionError> {
        let base = if read_only {
            READ_ONLY_TOOLS
        } else {
            ALL_TOOLS
        };
        let Some(allow) = allow else {
            return Ok(Self {
                tools: base.to_vec(),
                read_only,
            });
        };
        let mut chosen = Vec::new();
        for name in allow.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            let Some(tool) = ALL_TOOLS.iter().find(|t| **t == name) else {
                return Err(ToolSelectionError::Unknown(name.to_owned()));
            };
            if !base.contains(tool) {
                return Err(ToolSelectionError::NotReadOnly(name.to_owned()));
            }
            if !chosen.contains(tool) {
                chosen.push(*tool);
            }
        }
        if chosen.is_empty() {
            return Err(ToolSelectionError::Empty);
        }
        Ok(Self {
            tools: chosen,
            read_only,
        })
    }

    pub fn contains(&self, tool: &str) -> bool {
        self.tools.contains(&tool)
    }

    /// Why `tool` (one of ours) is not offered, and which setting would offer it.
    pub fn not_offered(&self, tool: &str) -> String {
        let how = if self.read_only && !READ_ONLY_TOOLS.contains(&tool) {
            "this server offers only the read-only tools (--read-only or \
             BETTER_AUTH_MCP_READ_ONLY; over HTTP, also when --tools is not given): start it \
             without --read-only, or over HTTP with --tools naming it"
        } else {
            "start the server with it in --tools (BETTER_AUTH_MCP_TOOLS)"
        };
        format!("{tool} is not offered by this server: {how}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tool_selection_follows_tools_and_read_only() {
        assert_eq!(
            ToolSelection::new(None, false).unwrap(),
            ToolSelection::default()
        );
        let ro = ToolSelection::new(None, true).unwrap();
        assert!(ro.contains("verify_token") && ro.contains("get_user"));
        assert!(!ro.contains("sign_in") && !ro.contains("sign_up"));
        let some = ToolSelection::new(Some(&names(&["verify_token", " sign_in"])), false).unwrap();
        assert!(some.contains("sign_in") && !some.contains("sign_up"));
        assert!(matches!(
            ToolSelection::new(Some(&names(&["delete_everything"])), false),
            Err(ToolSelectionError::Unknown(_))
        ));
        assert!(matches!(
            ToolSelection::new(Some(&names(&["sign_in"])), true),
            Err(ToolSelectionError::NotReadOnly(_))
        ));
        assert!(matches!(
            ToolSelection::new(Some(&names(&[""])), false),
            Err(ToolSelectionError::Empty)
        ));
    }
}
