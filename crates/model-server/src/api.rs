//! Which model API a request speaks, decided by its method and path.

use serde::{Deserialize, Serialize};

/// A model API the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// Anthropic Messages: `POST /v1/messages` (Claude Code, opencode's anthropic provider).
    Anthropic,
    /// OpenAI Responses: `POST /v1/responses` (Codex).
    #[serde(rename = "openai", alias = "responses")]
    OpenAi,
    /// OpenAI Chat Completions: `POST /v1/chat/completions` (opencode).
    #[serde(rename = "chat")]
    ChatCompletions,
    /// Gemini: `POST /v1beta/models/<model>:streamGenerateContent` or
    /// `:generateContent` (Gemini CLI).
    Gemini,
}

impl Api {
    /// The API a `POST` to `path` (without the query) speaks, if any.
    pub fn from_path(path: &str) -> Option<Api> {
        match path {
            "/v1/messages" | "/messages" => Some(Api::Anthropic),
            "/v1/responses" | "/responses" => Some(Api::OpenAi),
            "/v1/chat/completions" | "/chat/completions" => Some(Api::ChatCompletions),
            _ => {
                let rest =
                    path.strip_prefix("/v1beta/models/").or(path.strip_prefix("/v1/models/"))?;
                let (_model, method) = rest.split_once(':')?;
                matches!(method, "streamGenerateContent" | "generateContent").then_some(Api::Gemini)
            }
        }
    }

    /// The model a Gemini path names (`/v1beta/models/<model>:method`):
    /// Gemini requests carry it in the URL, not the body.
    pub fn gemini_model(path: &str) -> Option<&str> {
        let rest = path.strip_prefix("/v1beta/models/").or(path.strip_prefix("/v1/models/"))?;
        let (model, _method) = rest.split_once(':')?;
        (!model.is_empty()).then_some(model)
    }

    /// The name scripts and logs use.
    pub fn name(self) -> &'static str {
        match self {
            Api::Anthropic => "anthropic",
            Api::OpenAi => "openai",
            Api::ChatCompletions => "chat",
            Api::Gemini => "gemini",
        }
    }
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_apis() {
        assert_eq!(Api::from_path("/v1/messages"), Some(Api::Anthropic));
        assert_eq!(Api::from_path("/v1/responses"), Some(Api::OpenAi));
        assert_eq!(Api::from_path("/v1/chat/completions"), Some(Api::ChatCompletions));
        assert_eq!(
            Api::from_path("/v1beta/models/gemini-2.5-pro:streamGenerateContent"),
            Some(Api::Gemini)
        );
        assert_eq!(Api::from_path("/v1beta/models/gemini-2.5-pro:countTokens"), None);
        assert_eq!(Api::from_path("/v1/models"), None);
        assert_eq!(Api::from_path("/"), None);
    }

    #[test]
    fn gemini_paths_name_the_model() {
        assert_eq!(
            Api::gemini_model("/v1beta/models/gemini-2.5-pro:streamGenerateContent"),
            Some("gemini-2.5-pro")
        );
        assert_eq!(Api::gemini_model("/v1/messages"), None);
        assert_eq!(Api::gemini_model("/v1beta/models/:generateContent"), None);
    }
}
