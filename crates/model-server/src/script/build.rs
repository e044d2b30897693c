//! Building scripts in code: `Script::new().rule(Rule::text("done").turn(2))`.

use std::time::Duration;

use super::{Conditions, Fault, Reply, Rule, Script, ToolCall, Usage};
use crate::api::Api;

impl Script {
    /// An empty script: every request gets the "no rule matched" error.
    pub fn new() -> Self {
        Script::default()
    }

    /// Appends a rule (tried after the ones before it).
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Sets the token counts replies report by default.
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }
}

impl Rule {
    fn answering(reply: Reply) -> Rule {
        Rule {
            name: None,
            when: Conditions::default(),
            times: None,
            delay: Duration::ZERO,
            usage: None,
            reply,
        }
    }

    /// A rule that answers with a final text message.
    pub fn text(text: impl Into<String>) -> Rule {
        Rule::answering(Reply::Message { text: Some(text.into()), tools: Vec::new() })
    }

    /// A rule that answers with one tool call.
    pub fn tool(call: ToolCall) -> Rule {
        Rule::tools([call])
    }

    /// A rule that answers with these tool calls, in order.
    pub fn tools(calls: impl IntoIterator<Item = ToolCall>) -> Rule {
        Rule::answering(Reply::Message { text: None, tools: calls.into_iter().collect() })
    }

    /// A rule that answers with a fault.
    pub fn fault(fault: Fault) -> Rule {
        Rule::answering(Reply::Fault(fault))
    }

    /// Names the rule in the request log.
    pub fn named(mut self, name: impl Into<String>) -> Rule {
        self.name = Some(name.into());
        self
    }

    /// Adds text said before the tool calls (no effect on a fault).
    pub fn saying(mut self, said: impl Into<String>) -> Rule {
        if let Reply::Message { text, .. } = &mut self.reply {
            *text = Some(said.into());
        }
        self
    }

    /// Only requests speaking this API.
    pub fn api(mut self, api: Api) -> Rule {
        self.when.api = Some(api);
        self
    }

    /// Only requests whose prompt contains `marker`.
    pub fn marker(mut self, marker: impl Into<String>) -> Rule {
        self.when.marker = Some(marker.into());
        self
    }

    /// Only requests that do (or do not) answer a tool call.
    pub fn tool_result(mut self, is_tool_result: bool) -> Rule {
        self.when.tool_result = Some(is_tool_result);
        self
    }

    /// Only requests at this turn (assistant turns in history + 1).
    pub fn turn(mut self, turn: u32) -> Rule {
        self.when.turn = Some(turn);
        self
    }

    /// Only requests asking for this model.
    pub fn model(mut self, model: impl Into<String>) -> Rule {
        self.when.model = Some(model.into());
        self
    }

    /// Only requests carrying this header value.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Rule {
        self.when.headers.insert(name.into(), value.into());
        self
    }

    /// Answer at most `times` requests.
    pub fn times(mut self, times: u32) -> Rule {
        self.times = Some(times);
        self
    }

    /// Wait before answering.
    pub fn delay(mut self, delay: Duration) -> Rule {
        self.delay = delay;
        self
    }

    /// Report these token counts.
    pub fn usage(mut self, usage: Usage) -> Rule {
        self.usage = Some(usage);
        self
    }
}

impl ToolCall {
    /// Any tool by name with a JSON input.
    pub fn tool_use(name: impl Into<String>, input: serde_json::Value) -> ToolCall {
        ToolCall::ToolUse { name: name.into(), input }
    }

    /// Create or overwrite a file.
    pub fn write_file(path: impl Into<String>, content: impl Into<String>) -> ToolCall {
        ToolCall::WriteFile { path: path.into(), content: content.into() }
    }

    /// Replace `old` with `new` in a file.
    pub fn edit_file(
        path: impl Into<String>,
        old: impl Into<String>,
        new: impl Into<String>,
    ) -> ToolCall {
        ToolCall::EditFile { path: path.into(), old: old.into(), new: new.into() }
    }

    /// Run a shell command.
    pub fn shell(command: impl Into<String>) -> ToolCall {
        ToolCall::Shell { command: command.into(), description: None }
    }

    /// Codex's `exec_command`.
    pub fn exec_command(cmd: impl Into<String>) -> ToolCall {
        ToolCall::ExecCommand { cmd: cmd.into(), workdir: None }
    }

    /// Codex's `apply_patch`.
    pub fn apply_patch(patch: impl Into<String>) -> ToolCall {
        ToolCall::ApplyPatch { patch: patch.into() }
    }
}
