"""Reads sluice-encoded records with Confluent's own Python serializers.

Input (stdin, JSON): {"manifest": PATH, "python_out": DIR, "records": [
  {"format": "avro" | "protobuf", "subject": S, "module": M, "message": N, "value_hex": H}]}

For each record, prints one JSON line:
  {"decoded": <the event as Confluent's deserializer sees it>,
   "reencoded_hex": <Confluent's serializer's bytes for that event> (Avro only)}

The mock registry is filled from sluice's manifest so that every schema gets
the id sluice gave it.
"""

import json
import sys
import tomllib
from pathlib import Path

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf.json_format import MessageToDict


def registry(manifest: Path) -> SchemaRegistryClient:
    client = SchemaRegistryClient.new_client({"url": "mock://sluice"})
    entries = {e["id"]: e for e in tomllib.loads(manifest.read_text())["schema"]}
    for schema_id in range(1, max(entries) + 1):
        entry = entries.get(schema_id)
        if entry and entry["format"] == "avro":
            text = (manifest.parent / entry["file"]).read_text()
            got = client.register_schema(entry["subject"], Schema(text, "AVRO"))
        else:
            # Protobuf entries and gaps: a placeholder keeps the ids aligned.
            placeholder = '{"type":"record","name":"Placeholder%d","fields":[]}' % schema_id
            got = client.register_schema(f"placeholder-{schema_id}", Schema(placeholder, "AVRO"))
        assert got == schema_id, f"mock registry gave id {got}, sluice has {schema_id}"
    return client


def main() -> None:
    request = json.load(sys.stdin)
    sys.path.insert(0, request["python_out"])
    client = registry(Path(request["manifest"]))
    ctx = SerializationContext("cross-check", MessageField.VALUE)
    for record in request["records"]:
        value = bytes.fromhex(record["value_hex"])
        if record["format"] == "avro":
            decoded = AvroDeserializer(client)(value, ctx)
            serializer = AvroSerializer(
                client,
                None,
                conf={
                    "auto.register.schemas": False,
                    "use.latest.version": True,
                    "subject.name.strategy": lambda _ctx, _name, s=record["subject"]: s,
                },
            )
            reencoded = serializer(decoded, ctx).hex()
            decoded["metadata"]["occurred_at_ms"] = int(
                decoded["metadata"]["occurred_at_ms"].timestamp() * 1000
            )
        else:
            module = __import__(record["module"], fromlist=[record["message"]])
            message_type = getattr(module, record["message"])
            deserializer = ProtobufDeserializer(message_type, {"use.deprecated.format": False})
            message = deserializer(value, ctx)
            decoded = MessageToDict(message, preserving_proto_field_name=True)
            reencoded = None
        print(json.dumps({"decoded": decoded, "reencoded_hex": reencoded}, default=str))


if __name__ == "__main__":
    main()
