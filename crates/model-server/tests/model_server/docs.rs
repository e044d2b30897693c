//! The script examples in docs/model-server.md parse.

use orca_model_server::Script;

fn code_blocks(language: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/model-server.md");
    let text = std::fs::read_to_string(path).unwrap();
    let fence = format!("```{language}\n");
    let mut blocks = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(&fence) {
        let after = &rest[start + fence.len()..];
        let end = after.find("```").unwrap();
        blocks.push(after[..end].to_string());
        rest = &after[end..];
    }
    blocks
}

#[test]
fn every_toml_and_json_example_in_the_docs_is_a_valid_script() {
    let toml = code_blocks("toml");
    assert!(toml.len() >= 4, "the docs lost their examples");
    for block in toml {
        let script = Script::from_toml_str(&block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert!(!script.rules.is_empty(), "{block}");
    }
    let json: Vec<_> =
        code_blocks("json").into_iter().filter(|block| block.contains("\"rules\"")).collect();
    assert!(!json.is_empty());
    for block in json {
        Script::from_json_str(&block).unwrap_or_else(|e| panic!("{e}\n{block}"));
    }
}
