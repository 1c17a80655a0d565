//! Which tools a server offers, over which transport: toolsets (as GitHub's MCP server
//! groups its tools), narrowed by vendor MCP servers' `--tools` and `--read-only`, and what
//! would offer the others: the tool policy, in one place.

/// A group of tools, each group mirroring one part of Better Auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toolset {
    pub name: &'static str,
    pub tools: &'static [&'static str],
    /// The tools of `--read-only`: they create nothing and take no password.
    pub read_only: &'static [&'static str],
    /// The Better Auth plugin whose tables the set needs (None: Better Auth's core).
    pub plugin: Option<&'static str>,
}

/// Every toolset, in the order of the contract.
pub const TOOLSETS: &[Toolset] = &[
    Toolset {
        name: "auth",
        tools: &[
            "sign_up",
            "sign_in",
            "verify_token",
            "get_user",
            "refresh_token",
            "sign_out",
        ],
        read_only: &["verify_token", "get_user"],
        plugin: None,
    },
    Toolset {
        name: "browser_sign_in",
        tools: &["begin_browser_sign_in", "complete_browser_sign_in"],
        read_only: &[],
        plugin: Some("device-authorization"),
    },
    Toolset {
        name: "api_keys",
        tools: &["create_api_key", "list_api_keys", "revoke_api_key"],
        read_only: &["list_api_keys"],
        plugin: Some("api-key"),
    },
    Toolset {
        name: "organizations",
        tools: &["list_organizations", "check_permission"],
        read_only: &["list_organizations", "check_permission"],
        plugin: Some("organization"),
    },
    Toolset {
        name: "admin",
        tools: &[
            "list_users",
            "ban_user",
            "unban_user",
            "set_role",
            "revoke_user_sessions",
            "remove_user",
        ],
        read_only: &["list_users"],
        plugin: Some("admin"),
    },
];

/// The toolsets of the contract not built yet: named, they are refused with this.
const LATER_TOOLSETS: &[&str] = &[];

/// The default toolset.
pub const DEFAULT_TOOLSET: &str = "auth";

/// Every tool of every toolset, in the contract's order.
pub fn all_tools() -> impl Iterator<Item = &'static str> {
    TOOLSETS.iter().flat_map(|set| set.tools.iter().copied())
}

/// The toolset a tool of ours belongs to.
pub fn toolset_of(tool: &str) -> Option<&'static Toolset> {
    TOOLSETS.iter().find(|set| set.tools.contains(&tool))
}

fn is_read_only(tool: &str) -> bool {
    toolset_of(tool).is_some_and(|set| set.read_only.contains(&tool))
}

/// Which tools a server offers, and what would offer the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSelection {
    toolsets: Vec<&'static Toolset>,
    tools: Vec<&'static str>,
    read_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ToolSelectionError {
    #[error("unknown toolset {0:?}; the toolsets are {names:?}", names = toolset_names())]
    UnknownToolset(String),
    #[error("the toolset {0:?} is not available in this version")]
    LaterToolset(String),
    #[error("unknown tool {0:?}; the tools are {names:?}", names = all_tools().collect::<Vec<_>>())]
    Unknown(String),
    #[error(
        "{tool:?} is in the toolset {toolset:?}: add it to --toolsets (BETTER_AUTH_MCP_TOOLSETS)"
    )]
    OutsideToolsets { tool: String, toolset: &'static str },
    #[error("--read-only offers only the read-only tools, not {0:?}")]
    NotReadOnly(String),
    #[error("--tools selects no tool")]
    Empty,
}

fn toolset_names() -> Vec<&'static str> {
    TOOLSETS.iter().map(|s| s.name).collect()
}

impl Default for ToolSelection {
    /// The `auth` toolset, every tool of it.
    fn default() -> Self {
        Self::new(None, None, false).expect("the default toolset offers its tools")
    }
}

/// A list setting as given: unset when it names nothing (an MCP Bundle passes its optional
/// fields as empty strings).
fn given(list: Option<&[String]>) -> Option<Vec<&str>> {
    let names: Vec<&str> = list?
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    (!names.is_empty()).then_some(names)
}

impl ToolSelection {
    /// The tools a server offers over its transport: those of the `toolsets` (default
    /// `auth`), narrowed to those `named` (`--tools`) and to the read-only ones with
    /// `read_only`. An empty list is unset, as every empty setting is. Over HTTP the
    /// default is the read-only tools: the others only when `named` names them.
    pub fn offered(
        toolsets: Option<&[String]>,
        named: Option<&[String]>,
        read_only: bool,
        over_http: bool,
    ) -> Result<Self, ToolSelectionError> {
        let named_none = given(named).is_none();
        Self::new(toolsets, named, read_only || (over_http && named_none))
    }

    /// The tools of `toolsets` (None: `auth`), narrowed to `allow` (None: all of them) and
    /// to the read-only ones when `read_only`.
    pub fn new(
        toolsets: Option<&[String]>,
        allow: Option<&[String]>,
        read_only: bool,
    ) -> Result<Self, ToolSelectionError> {
        let mut sets: Vec<&'static Toolset> = Vec::new();
        for name in given(toolsets).unwrap_or_else(|| vec![DEFAULT_TOOLSET]) {
            let Some(set) = TOOLSETS.iter().find(|s| s.name == name) else {
                if LATER_TOOLSETS.contains(&name) {
                    return Err(ToolSelectionError::LaterToolset(name.to_owned()));
                }
                return Err(ToolSelectionError::UnknownToolset(name.to_owned()));
            };
            if !sets.contains(&set) {
                sets.push(set);
            }
        }
        let in_sets = |tool: &str| sets.iter().any(|s| s.tools.contains(&tool));
        let chosen: Vec<&'static str> = match given(allow) {
            None => all_tools()
                .filter(|t| in_sets(t) && (!read_only || is_read_only(t)))
                .collect(),
            Some(names) => {
                let mut chosen = Vec::new();
                for name in names {
                    let Some(tool) = all_tools().find(|t| *t == name) else {
                        return Err(ToolSelectionError::Unknown(name.to_owned()));
                    };
                    if !in_sets(tool) {
                        return Err(ToolSelectionError::OutsideToolsets {
                            tool: name.to_owned(),
                            toolset: toolset_of(tool).map_or("", |s| s.name),
                        });
                    }
                    if read_only && !is_read_only(tool) {
                        return Err(ToolSelectionError::NotReadOnly(name.to_owned()));
                    }
                    if !chosen.contains(&tool) {
                        chosen.push(tool);
                    }
                }
                chosen
            }
        };
        if chosen.is_empty() {
            return Err(ToolSelectionError::Empty);
        }
        Ok(Self {
            toolsets: sets,
            tools: chosen,
            read_only,
        })
    }

    pub fn contains(&self, tool: &str) -> bool {
        self.tools.contains(&tool)
    }

    /// The toolsets chosen.
    pub fn toolsets(&self) -> impl Iterator<Item = &'static Toolset> + '_ {
        self.toolsets.iter().copied()
    }

    /// Why `tool` (one of ours) is not offered, and which setting would offer it.
    pub fn not_offered(&self, tool: &str) -> String {
        let set = toolset_of(tool);
        let how = if let Some(set) = set.filter(|s| !self.toolsets.contains(s)) {
            format!(
                "it is in the toolset {}: start the server with it in --toolsets \
                 (BETTER_AUTH_MCP_TOOLSETS)",
                set.name
            )
        } else if self.read_only && !is_read_only(tool) {
            "this server offers only the read-only tools (--read-only or \
             BETTER_AUTH_MCP_READ_ONLY; over HTTP, also when --tools is not given): start it \
             without --read-only, or over HTTP with --tools naming it"
                .to_owned()
        } else {
            "start the server with it in --tools (BETTER_AUTH_MCP_TOOLS)".to_owned()
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
    fn every_tool_is_in_one_toolset() {
        let listed: Vec<&str> = all_tools().collect();
        for tool in &listed {
            assert_eq!(listed.iter().filter(|t| *t == tool).count(), 1, "{tool}");
        }
        for set in TOOLSETS {
            assert!(set.read_only.iter().all(|t| set.tools.contains(t)));
        }
    }

    #[test]
    fn tool_selection_follows_tools_and_read_only() {
        let all = ToolSelection::new(None, None, false).unwrap();
        assert_eq!(all, ToolSelection::default());
        assert!(all.contains("sign_up") && !all.contains("create_api_key"));
        let ro = ToolSelection::new(None, None, true).unwrap();
        assert!(ro.contains("verify_token") && ro.contains("get_user"));
        assert!(!ro.contains("sign_in") && !ro.contains("sign_up"));
        let some =
            ToolSelection::new(None, Some(&names(&["verify_token", " sign_in"])), false).unwrap();
        assert!(some.contains("sign_in") && !some.contains("sign_up"));
        assert!(matches!(
            ToolSelection::new(None, Some(&names(&["delete_everything"])), false),
            Err(ToolSelectionError::Unknown(_))
        ));
        assert!(matches!(
            ToolSelection::new(None, Some(&names(&["sign_in"])), true),
            Err(ToolSelectionError::NotReadOnly(_))
        ));
        assert_eq!(
            ToolSelection::new(None, Some(&names(&[""])), false).unwrap(),
            ToolSelection::default(),
            "an empty list is unset"
        );
    }

    #[test]
    fn toolsets_pick_the_tools_and_tools_narrow_inside_them() {
        let keys = ToolSelection::new(Some(&names(&["auth", "api_keys"])), None, false).unwrap();
        assert!(keys.contains("sign_in") && keys.contains("create_api_key"));
        assert!(!keys.contains("check_permission"));
        let orgs_ro =
            ToolSelection::offered(Some(&names(&["organizations"])), None, false, true).unwrap();
        assert!(orgs_ro.contains("check_permission") && !orgs_ro.contains("get_user"));
        let http =
            ToolSelection::offered(Some(&names(&["auth", "api_keys"])), None, false, true).unwrap();
        assert!(http.contains("list_api_keys") && !http.contains("create_api_key"));
        assert!(matches!(
            ToolSelection::new(None, Some(&names(&["create_api_key"])), false),
            Err(ToolSelectionError::OutsideToolsets {
                toolset: "api_keys",
                ..
            })
        ));
        assert!(matches!(
            ToolSelection::new(Some(&names(&["nope"])), None, false),
            Err(ToolSelectionError::UnknownToolset(_))
        ));
        let browser = ToolSelection::new(Some(&names(&["browser_sign_in"])), None, false).unwrap();
        assert!(browser.contains("begin_browser_sign_in") && !browser.contains("sign_in"));
        assert!(matches!(
            ToolSelection::new(Some(&names(&["browser_sign_in"])), None, true),
            Err(ToolSelectionError::Empty)
        ));
        let admin = ToolSelection::new(Some(&names(&["admin"])), None, false).unwrap();
        assert!(admin.contains("ban_user") && !admin.contains("sign_in"));
        assert!(
            !ToolSelection::default().contains("list_users"),
            "admin is off unless named"
        );
        let admin_http =
            ToolSelection::offered(Some(&names(&["admin"])), None, false, true).unwrap();
        assert!(admin_http.contains("list_users") && !admin_http.contains("ban_user"));
        assert_eq!(
            ToolSelection::new(Some(&names(&[" "])), None, false).unwrap(),
            ToolSelection::default(),
            "an empty list is unset"
        );
        assert!(
            ToolSelection::default()
                .not_offered("create_api_key")
                .contains("--toolsets")
        );
    }
}
