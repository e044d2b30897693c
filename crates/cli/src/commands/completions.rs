//! `orca completions SHELL`: a completion script for the commands a user
//! types.

use clap::Command;

use crate::exit_code::ExitCode;

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub(crate) fn run(args: &CompletionsArgs, command: Command) -> ExitCode {
    let mut command = visible_only(command);
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "orca", &mut script);
    // A closed pipe (`| head`) is not worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
    ExitCode::Success
}

/// `command` without its hidden subcommands (the test-only ones), at every
/// level: the script generators offer hidden subcommands, and clap cannot
/// remove a subcommand, so the tree is built again from what is visible.
fn visible_only(command: Command) -> Command {
    let mut visible = Command::new(command.get_name().to_owned())
        .args(command.get_arguments().filter(|arg| !arg.is_hide_set()).cloned())
        .subcommands(
            command.get_subcommands().filter(|sub| !sub.is_hide_set()).cloned().map(visible_only),
        );
    if let Some(about) = command.get_about() {
        visible = visible.about(about.clone());
    }
    visible.visible_aliases(command.get_visible_aliases().map(str::to_owned).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn hidden_subcommands_are_left_out_at_every_level() {
        let full = crate::Cli::command();
        let hidden: Vec<String> = full
            .get_subcommands()
            .chain(full.get_subcommands().flat_map(Command::get_subcommands))
            .filter(|sub| sub.is_hide_set())
            .map(|sub| sub.get_name().to_owned())
            .collect();
        assert!(hidden.len() >= 3, "{hidden:?}");
        let visible = visible_only(full);
        let mut names = Vec::new();
        for sub in visible.get_subcommands() {
            names.push(sub.get_name().to_owned());
            names.extend(sub.get_subcommands().map(|inner| inner.get_name().to_owned()));
        }
        assert!(names.iter().any(|name| name == "run"), "{names:?}");
        assert!(names.iter().any(|name| name == "check"), "{names:?}");
        for name in &hidden {
            assert!(!names.contains(name), "{name} is offered: {names:?}");
        }
    }
}
