//! A six-task plan with a diamond (T01 → T02, T03 → T04) and independent
//! work (T05), run by real agent CLIs on a repository whose checkout the
//! user left dirty.

use orca_model_server::{ModelServer, Script, ToolCall};

use crate::harness::{
    Checkout, Cli, Project, Steps, assert_merged_in_dependency_order, assert_only_model_traffic,
    assert_tidy, edit_existing, merge_order,
};

const README: &str =
    "# greeter\n\nSays hello in several languages.\n\n## Languages\n\n(none yet)\n";
const GREET: &str = "#!/bin/sh\n# Prints the greeting of the language given (default: en).\n\
                     cat \"strings/${1:-en}.txt\"\n";

const PLAN: &str = "# Plan: Greetings in two languages

The greeter prints a greeting from `strings/<lang>.txt`.

### T01: Lay out the strings directory
- deps: none
- role: backend
- files: strings/README.md
- verify: test -f strings/README.md

Explain the layout in `strings/README.md`.

### T02: Add the English greeting
- deps: T01
- role: backend
- files: strings/en.txt
- verify: grep -qx Hello strings/en.txt

### T03: Add the French greeting
- deps: T01
- role: backend
- files: strings/fr.txt
- verify: grep -qx Bonjour strings/fr.txt

### T04: List the languages
- deps: T02, T03
- role: backend
- files: languages.txt
- verify: sh greet.sh fr

The French greeting must already be there: `sh greet.sh fr` prints it.

### T05: Start the changelog
- deps: none
- role: docs
- files: CHANGELOG.md

### T06: Document the languages
- deps: T04, T05
- role: docs
- files: README.md
- verify: grep -q Bonjour README.md
";

const DEPS: &[(&str, &[&str])] = &[
    ("T01", &[]),
    ("T02", &["T01"]),
    ("T03", &["T01"]),
    ("T04", &["T02", "T03"]),
    ("T05", &[]),
    ("T06", &["T04", "T05"]),
];

fn script(cli: Cli) -> Script {
    let task = |id: &str, title: &str, calls: Vec<ToolCall>| Steps {
        marker: format!("Task {id}: {title}"),
        calls,
        done: format!("{id} is done."),
    };
    let tasks = [
        task(
            "T01",
            "Lay out the strings directory",
            vec![ToolCall::write_file(
                "strings/README.md",
                "One file per language: strings/<lang>.txt holds its greeting.\n",
            )],
        ),
        task(
            "T02",
            "Add the English greeting",
            vec![ToolCall::write_file("strings/en.txt", "Hello\n")],
        ),
        task(
            "T03",
            "Add the French greeting",
            vec![ToolCall::write_file("strings/fr.txt", "Bonjour\n")],
        ),
        task("T04", "List the languages", vec![ToolCall::write_file("languages.txt", "en\nfr\n")]),
        task(
            "T05",
            "Start the changelog",
            edit_existing(
                cli,
                "CHANGELOG.md",
                "# Changelog\n",
                "# Changelog\n\n- Greetings in English and French.\n",
            ),
        ),
        task(
            "T06",
            "Document the languages",
            edit_existing(cli, "README.md", "(none yet)", "- en: Hello\n- fr: Bonjour"),
        ),
    ];
    let mut script = Script::new();
    for task in &tasks {
        for rule in task.rules() {
            script = script.rule(rule);
        }
    }
    script
}

pub(crate) fn diamond(cli: Cli) {
    let server = ModelServer::start(script(cli)).unwrap();
    let project = Project::new(&[
        ("README.md", README),
        ("greet.sh", GREET),
        ("CHANGELOG.md", "# Changelog\n"),
    ]);
    project.configure(cli, &server, "");
    let plan = project.plan(PLAN);
    Checkout::make_dirty(&project, "README.md", "draft.txt");
    let before = Checkout::take(&project);

    let orca =
        project.run(&server, "run", &["run", "--plan", plan.to_str().unwrap(), "--agents", "3"]);
    orca.assert_exit(0, &server);
    let events = orca.events();
    assert_eq!(events.outcome().as_deref(), Some("completed"), "{}", orca.story(&server));
    let integration = events.integration_branch();

    // Every task's work is on the integration branch.
    let on = |path: &str| project.show(&integration, path);
    assert_eq!(
        on("strings/README.md").as_deref(),
        Some("One file per language: strings/<lang>.txt holds its greeting.\n")
    );
    assert_eq!(on("strings/en.txt").as_deref(), Some("Hello\n"));
    assert_eq!(on("strings/fr.txt").as_deref(), Some("Bonjour\n"));
    assert_eq!(on("languages.txt").as_deref(), Some("en\nfr\n"));
    assert_eq!(
        on("CHANGELOG.md").as_deref(),
        Some("# Changelog\n\n- Greetings in English and French.\n")
    );
    assert_eq!(
        on("README.md").unwrap(),
        README.replace("(none yet)", "- en: Hello\n- fr: Bonjour")
    );
    assert_eq!(on("greet.sh").as_deref(), Some(GREET));

    // Merged once each, in an order the dependencies allow, and verified
    // where the plan says so.
    assert_merged_in_dependency_order(&merge_order(&project, &integration), DEPS);
    for (task, _) in DEPS {
        assert_eq!(events.of("merged", task).len(), 1, "{task}\n{}", orca.story(&server));
        let started = events.of("task_started", task);
        assert_eq!(started.len(), 1, "{task} needed one attempt");
        assert_eq!(started[0]["agent"], cli.name());
    }
    let api = match cli {
        Cli::Claude => orca_model_server::Api::Anthropic,
        Cli::Codex => orca_model_server::Api::OpenAi,
    };
    assert!(server.model_requests().iter().all(|request| request.api == Some(api)));
    for task in ["T01", "T02", "T03", "T04", "T06"] {
        let verified = events.of("verify_finished", task);
        assert!(verified.len() == 1 && verified[0]["passed"] == true, "{task}: {verified:?}");
    }
    assert!(events.of("verify_started", "T05").is_empty(), "T05 has no verify");

    // T02 and T03 ran at the same time: both agents were started before
    // either finished (the dispatcher starts both the moment T01 merges).
    let started = |task| events.position("task_started", task).unwrap();
    let finished = |task| events.position("agent_finished", task).unwrap();
    assert!(
        started("T02") < finished("T03") && started("T03") < finished("T02"),
        "T02 and T03 must overlap\n{}",
        orca.story(&server)
    );
    let merged_t01 = events.position("merged", "T01").unwrap();
    assert!(started("T02") > merged_t01 && started("T03") > merged_t01);

    // The user's checkout, dirty as it was, is untouched; orca left no
    // worktree and pruned its attempt branches.
    Checkout::take(&project).assert_unchanged(&before);
    assert_tidy(&project, &integration);
    assert_only_model_traffic(&server);
}

#[test]
fn heavy_diamond_with_claude() {
    diamond(Cli::Claude);
}

#[test]
fn heavy_diamond_with_codex() {
    diamond(Cli::Codex);
}
