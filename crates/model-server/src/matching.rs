//! Choosing the rule that answers a request: the first whose conditions
//! hold and that has uses left. Counting uses is the only state a script
//! has, so "first request fails, later ones succeed" is one rule with
//! `times = 1` before another.

use hyper::header::HeaderMap;

use crate::conversation::Conversation;
use crate::script::{Conditions, Rule, Script};

impl Conditions {
    /// Whether every condition that is set holds for this request.
    pub(crate) fn matches(&self, conversation: &Conversation, headers: &HeaderMap) -> bool {
        self.api.is_none_or(|api| api == conversation.api)
            && self.marker.as_deref().is_none_or(|marker| conversation.prompt.contains(marker))
            && self.tool_result.is_none_or(|wanted| wanted == conversation.tool_result)
            && self.turn.is_none_or(|turn| turn == conversation.turn)
            && self
                .model
                .as_deref()
                .is_none_or(|model| conversation.model.as_deref() == Some(model))
            && self.headers.iter().all(|(name, value)| {
                headers
                    .get_all(name.as_str())
                    .iter()
                    .any(|present| present.as_bytes() == value.as_bytes())
            })
    }
}

/// A script plus how often each rule has answered.
#[derive(Debug)]
pub(crate) struct Rulebook {
    script: Script,
    uses: Vec<u32>,
}

/// The rule chosen for a request.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    /// The rule's index in the script.
    pub(crate) index: usize,
    /// The rule's name, or `rule <index>`.
    pub(crate) name: String,
    pub(crate) rule: Rule,
}

impl Rulebook {
    pub(crate) fn new(script: Script) -> Rulebook {
        let uses = vec![0; script.rules.len()];
        Rulebook { script, uses }
    }

    pub(crate) fn script(&self) -> &Script {
        &self.script
    }

    /// Picks the answering rule and counts the use.
    pub(crate) fn choose(
        &mut self,
        conversation: &Conversation,
        headers: &HeaderMap,
    ) -> Option<Chosen> {
        let (index, rule) = self.script.rules.iter().enumerate().find(|(index, rule)| {
            rule.times.is_none_or(|times| self.uses[*index] < times)
                && rule.when.matches(conversation, headers)
        })?;
        self.uses[index] += 1;
        let name = rule.name.clone().unwrap_or_else(|| format!("rule {index}"));
        Some(Chosen { index, name, rule: rule.clone() })
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;
    use serde_json::json;

    use super::*;
    use crate::api::Api;
    use crate::script::{Fault, ToolCall};

    fn anthropic(messages: serde_json::Value) -> Conversation {
        Conversation::read(
            Api::Anthropic,
            &json!({"model": "m", "system": "sys TASK-1", "messages": messages}),
            false,
        )
    }

    fn first_turn() -> Conversation {
        anthropic(json!([{"role": "user", "content": "hello"}]))
    }

    fn after_tool() -> Conversation {
        anthropic(json!([
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "Write", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "ok"}]}
        ]))
    }

    fn chosen(book: &mut Rulebook, conv: &Conversation, headers: &HeaderMap) -> Option<usize> {
        book.choose(conv, headers).map(|chosen| chosen.index)
    }

    #[test]
    fn each_condition_filters() {
        let none = HeaderMap::new();
        let conv = first_turn();
        let cases = [
            (Rule::text("x").api(Api::Anthropic), true),
            (Rule::text("x").api(Api::OpenAi), false),
            (Rule::text("x").marker("TASK-1"), true),
            (Rule::text("x").marker("TASK-2"), false),
            (Rule::text("x").turn(1), true),
            (Rule::text("x").turn(2), false),
            (Rule::text("x").tool_result(false), true),
            (Rule::text("x").tool_result(true), false),
            (Rule::text("x").model("m"), true),
            (Rule::text("x").model("other"), false),
            (Rule::text("x").header("x-k", "v"), false),
        ];
        for (rule, expected) in cases {
            assert_eq!(rule.when.matches(&conv, &none), expected, "{:?}", rule.when);
        }
        let after = after_tool();
        assert!(Rule::text("x").turn(2).tool_result(true).when.matches(&after, &none));
    }

    #[test]
    fn header_condition_is_case_insensitive_on_the_name() {
        let mut headers = HeaderMap::new();
        headers.insert("x-session", HeaderValue::from_static("abc"));
        let conv = first_turn();
        assert!(Rule::text("x").header("X-Session", "abc").when.matches(&conv, &headers));
        assert!(!Rule::text("x").header("x-session", "abd").when.matches(&conv, &headers));
    }

    #[test]
    fn first_matching_rule_wins_and_times_runs_out() {
        let script = Script::new()
            .rule(Rule::fault(Fault::ServerError { message: None }).times(2))
            .rule(Rule::tool(ToolCall::shell("ls")).tool_result(false))
            .rule(Rule::text("done"));
        let mut book = Rulebook::new(script);
        let none = HeaderMap::new();
        let first = first_turn();
        assert_eq!(chosen(&mut book, &first, &none), Some(0));
        assert_eq!(chosen(&mut book, &first, &none), Some(0));
        assert_eq!(chosen(&mut book, &first, &none), Some(1));
        assert_eq!(chosen(&mut book, &after_tool(), &none), Some(2));
        assert_eq!(chosen(&mut book, &first, &none), Some(1));
    }

    #[test]
    fn nothing_matches_when_every_rule_is_used_up() {
        let mut book = Rulebook::new(Script::new().rule(Rule::text("once").times(1).named("only")));
        let none = HeaderMap::new();
        let chosen = book.choose(&first_turn(), &none).unwrap();
        assert_eq!(chosen.name, "only");
        assert!(book.choose(&first_turn(), &none).is_none());
    }
}
