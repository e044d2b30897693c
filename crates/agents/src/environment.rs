//! The clean environment an agent starts with: an allow-list of the host's
//! variables, the adapter's own settings, then the caller's extras.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

use crate::request::AgentRequest;

/// The environment orca runs in, as adapters see it. Tests build one by
/// hand; real runs take [`HostEnv::current`].
#[derive(Debug, Clone, Default)]
pub struct HostEnv {
    vars: BTreeMap<String, OsString>,
    is_root: bool,
}

impl HostEnv {
    /// This process's environment and effective user.
    pub fn current() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value)))
            .collect();
        HostEnv { vars, is_root: nix::unistd::geteuid().is_root() }
    }

    pub fn from_vars<I, K, V>(vars: I, is_root: bool) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<OsString>,
    {
        HostEnv { vars: vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), is_root }
    }

    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(name).map(OsString::as_os_str)
    }

    pub fn is_root(&self) -> bool {
        self.is_root
    }
}

/// What every agent gets from the host: enough to find programs, speak the
/// user's locale, and reach the network through the user's proxy.
const BASE_ALLOW_LIST: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
];

/// Builds one agent's environment.
#[derive(Debug, Clone)]
pub(crate) struct EnvBuilder {
    vars: BTreeMap<String, OsString>,
}

impl EnvBuilder {
    /// The allow-listed host variables, with HOME and TMPDIR replaced when
    /// the request has its own.
    pub(crate) fn new(host: &HostEnv, request: &AgentRequest) -> Self {
        let mut vars = BTreeMap::new();
        for (name, value) in &host.vars {
            if BASE_ALLOW_LIST.contains(&name.as_str()) || name.starts_with("LC_") {
                vars.insert(name.clone(), value.clone());
            }
        }
        if let Some(home) = &request.home {
            vars.insert("HOME".into(), home.clone().into_os_string());
        }
        if let Some(tmpdir) = &request.tmpdir {
            vars.insert("TMPDIR".into(), tmpdir.clone().into_os_string());
        }
        EnvBuilder { vars }
    }

    /// Copies these host variables when set (credentials, CLI config dirs).
    pub(crate) fn pass(&mut self, host: &HostEnv, names: &[&str]) -> &mut Self {
        for name in names {
            if let Some(value) = host.get(name) {
                self.vars.insert((*name).to_string(), value.to_os_string());
            }
        }
        self
    }

    pub(crate) fn set(&mut self, name: &str, value: impl Into<OsString>) -> &mut Self {
        self.vars.insert(name.to_string(), value.into());
        self
    }

    /// Applies the request's extra variables last, so callers can override
    /// anything, and returns the environment.
    pub(crate) fn finish(mut self, request: &AgentRequest) -> BTreeMap<String, OsString> {
        for (name, value) in &request.extra_env {
            self.vars.insert(name.clone(), value.clone());
        }
        self.vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allow_listed_variables_pass() {
        let host = HostEnv::from_vars(
            [
                ("PATH", "/bin"),
                ("LC_ALL", "C"),
                ("SECRET_TOKEN", "x"),
                ("ANTHROPIC_API_KEY", "k"),
                ("HOME", "/root"),
            ],
            false,
        );
        let request = AgentRequest::new("p", "/w").with_isolation("/h", "/t");
        let env = EnvBuilder::new(&host, &request).finish(&request);
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(names, ["HOME", "LC_ALL", "PATH", "TMPDIR"]);
        assert_eq!(env["HOME"], "/h");
        assert_eq!(env["TMPDIR"], "/t");
    }

    #[test]
    fn extra_env_wins() {
        let host = HostEnv::from_vars([("PATH", "/bin")], false);
        let request = AgentRequest::new("p", "/w").with_env("PATH", "/mine");
        let mut builder = EnvBuilder::new(&host, &request);
        builder.set("PATH", "/adapter");
        assert_eq!(builder.finish(&request)["PATH"], "/mine");
    }
}
