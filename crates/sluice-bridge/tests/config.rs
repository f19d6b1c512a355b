//! The configuration file: the example in the repository is valid, and
//! mistakes get errors that say what is wrong.

use sluice_bridge::BridgeConfig;
use sluice_bridge::config::{
    BodyFormat, DestinationConfig, DetailFormat, EventBridgeConfig, MessageGroup, RouteConfig,
    SqsConfig,
};

const EXAMPLE: &str = include_str!("../bridge.example.toml");

const KAFKA: &str = "[kafka]\nbootstrap_servers = \"localhost:9092\"\n";

fn bus(route: &RouteConfig) -> &EventBridgeConfig {
    match &route.destination {
        DestinationConfig::EventBridge(bus) => bus,
        other => panic!("not an EventBridge route: {other:?}"),
    }
}

fn queue(route: &RouteConfig) -> &SqsConfig {
    match &route.destination {
        DestinationConfig::Sqs(queue) => queue,
        other => panic!("not an SQS route: {other:?}"),
    }
}

fn error_of(text: &str) -> String {
    match BridgeConfig::from_toml(text) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_example_is_valid() {
    let config = BridgeConfig::from_toml(EXAMPLE).expect("the example parses and validates");
    assert_eq!(config.routes.len(), 3);
    let bus = bus(&config.routes[0]);
    assert_eq!(bus.event_bus, "sluice-events");
    assert_eq!(bus.detail, DetailFormat::Cloudevent);
    let fifo = queue(&config.routes[1]);
    assert!(fifo.is_fifo());
    assert!(matches!(fifo.message_group, Some(MessageGroup::Key(_))));
    assert_eq!(config.routes[1].batching.linger_ms, 20);
    assert_eq!(
        config.routes[1].dlq_topic.as_deref(),
        Some("{topic}.archiver.dlq")
    );
    let audit = queue(&config.routes[2]);
    assert!(!audit.is_fifo());
    assert_eq!(audit.body, BodyFormat::Base64);
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let e = error_of(&format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopics = [\"t\"]\neventbridge = {{ event_bus = \"b\", detial = \"data\" }}\n"
    ));
    assert!(e.contains("detial"), "{e}");
    let e = error_of(&format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopic = [\"t\"]\nsqs = {{ queue_url = \"q\" }}\n"
    ));
    assert!(e.contains("topic"), "{e}");
}

#[test]
fn missing_fields_are_named() {
    let e = error_of(&format!(
        "{KAFKA}[[route]]\ntopics = [\"t\"]\nsqs = {{ queue_url = \"q\" }}\n"
    ));
    assert!(e.contains("name"), "{e}");
    let e = error_of(&format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopics = [\"t\"]\nsqs = {{ }}\n"
    ));
    assert!(e.contains("queue_url"), "{e}");
    let e = error_of(KAFKA);
    assert!(e.contains("route"), "{e}");
}

#[test]
fn a_fifo_queue_needs_a_group_rule() {
    let e = error_of(&format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopics = [\"t\"]\nsqs = {{ queue_url = \"https://sqs.us-east-1.amazonaws.com/1/q.fifo\" }}\n"
    ));
    assert!(e.contains("FIFO") && e.contains("message_group"), "{e}");
    let by_field = format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopics = [\"t\"]\nsqs = {{ queue_url = \"https://sqs.us-east-1.amazonaws.com/1/q.fifo\", message_group = {{ field = \"mailboxId\" }} }}\n"
    );
    let config = BridgeConfig::from_toml(&by_field).expect("a field rule is a group rule");
    assert_eq!(
        queue(&config.routes[0]).message_group,
        Some(MessageGroup::Field {
            field: "mailboxId".into()
        })
    );
}

#[test]
fn one_destination_per_route_and_limits_within_quotas() {
    let e = error_of(&format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopics = [\"t\"]\nsqs = {{ queue_url = \"q\" }}\neventbridge = {{ event_bus = \"b\" }}\n"
    ));
    assert!(
        e.contains("route \"r\"") && e.contains("one destination"),
        "{e}"
    );
    let e = error_of(&format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopics = [\"t\"]\n"
    ));
    assert!(
        e.contains("route \"r\"") && e.contains("no destination"),
        "{e}"
    );
    let e = error_of(&format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopics = [\"t\"]\neventbridge = {{ event_bus = \" \" }}\n"
    ));
    assert!(e.contains("event_bus is empty"), "{e}");
    let e = error_of(&format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopics = [\"t\"]\nsqs = {{ queue_url = \"q\", limits = {{ max_entries = 11 }} }}\n"
    ));
    assert!(e.contains("max_entries"), "{e}");
    let e = error_of(&format!(
        "{KAFKA}[[route]]\nname = \"r\"\ntopics = [\"t\"]\nsqs = {{ queue_url = \"q\" }}\n[[route]]\nname = \"r\"\ntopics = [\"u\"]\nsqs = {{ queue_url = \"q\" }}\n"
    ));
    assert!(e.contains("twice"), "{e}");
}
