//! The connection examples in docs/security.md are what they say: each
//! parses as a `[kafka]` table and selects the protocol MSK expects.

use sluice_kafka::KafkaConfig;

const DOC: &str = include_str!("../../../docs/security.md");

/// The TOML code blocks of the document, in order.
fn toml_blocks() -> Vec<&'static str> {
    DOC.split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .collect()
}

fn protocol(block: &str) -> String {
    #[derive(serde::Deserialize)]
    struct File {
        kafka: KafkaConfig,
    }
    let file: File = toml::from_str(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
    file.kafka
        .client_config()
        .get("security.protocol")
        .unwrap_or("plaintext")
        .to_owned()
}

#[test]
fn the_msk_examples_connect_over_tls() {
    let blocks = toml_blocks();
    let iam = blocks
        .iter()
        .find(|b| b.contains("AWS_MSK_IAM"))
        .expect("an IAM example");
    let scram = blocks
        .iter()
        .find(|b| b.contains("SCRAM-SHA-512"))
        .expect("a SCRAM example");
    assert_eq!(protocol(iam), "sasl_ssl");
    // MSK's SCRAM port 9096 refuses sasl_plaintext.
    assert!(scram.contains(":9096"));
    assert_eq!(protocol(scram), "sasl_ssl");
}

#[test]
fn scram_without_tls_is_plaintext_as_the_doc_warns() {
    let scram = toml_blocks()
        .into_iter()
        .find(|b| b.contains("SCRAM-SHA-512"))
        .expect("a SCRAM example");
    let without_tls = scram.replace("[kafka.security.tls]\n", "");
    assert_eq!(protocol(&without_tls), "sasl_plaintext");
}
