#!/usr/bin/env node
// Produces records with kafkajs, a foreign (non-librdkafka) Kafka client, for
// sluice's tests. Driven by sluice_testkit::kafkajs::produce.
//
// stdin: one JSON document
//   {"brokers": "127.0.0.1:1234", "topic": "t", "one_batch_per_record": true,
//    "records": [{"partition": 0, "key": <bytes|null>, "value": <bytes|null>,
//                 "headers": [[<bytes>, <bytes|null>], ...]}]}
// where every <bytes> is a hex string, so any byte sequence can be given.
// stdout: one JSON line per record, in input order: {"partition": 0, "offset": 5}
// On any error: the error on stderr, exit code 1.
'use strict'

const path = require('path')

// --- The header hook ---------------------------------------------------------
// kafkajs writes a header name with writeVarIntString (a JS string as UTF-8),
// so by itself it cannot write a name that is not UTF-8, and (2.2.4) its
// record encoder, recordBatch/record/v0/index.js, throws on a null header
// value: its sizeOfHeaders calls Buffer.byteLength(value) before it checks
// for null. The hook: the header encoder, recordBatch/header/v0/index.js
// (module.exports = ({ key, value }) => Encoder, its only user being that
// record encoder), is wrapped in require.cache before kafkajs is loaded. For a
// header built by rawHeaders() below, the wrapper writes the real name and
// value from a side table with writeVarIntBytes (varint length + bytes, null
// as varint -1) — the same wire format as writeVarIntString for a name, so
// nothing changes on the wire except that any name bytes are allowed. Any
// other header goes to kafkajs's own encoder.
//
// The record encoder computes the record's length itself, from
// Buffer.byteLength of the header's object key and value, so the stand-ins
// rawHeaders() hands kafkajs have exactly the byte lengths the hook writes:
// the key is a placeholder of the name's length, the value is the real value,
// and a null value is an empty buffer (1 byte counted for varint 0, 1 byte
// written for varint -1).
const kafkajsRoot = path.dirname(require.resolve('kafkajs/package.json'))
const headerPath = path.join(kafkajsRoot, 'src/protocol/recordBatch/header/v0/index.js')
const Encoder = require(path.join(kafkajsRoot, 'src/protocol/encoder.js'))
const kafkajsHeader = require(headerPath)
const rawHeader = new WeakMap() // stand-in value -> { name: Buffer, value: Buffer|null }
require.cache[headerPath].exports = ({ key, value }) => {
  const raw = value != null && typeof value === 'object' ? rawHeader.get(value) : undefined
  if (raw === undefined) return kafkajsHeader({ key, value })
  return new Encoder().writeVarIntBytes(raw.name).writeVarIntBytes(raw.value)
}

const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

// -----------------------------------------------------------------------------

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'

// A kafkajs `headers` object for [[name, value|null], ...] (Buffers) that the
// hook turns back into exactly these headers, in this order, duplicates kept.
// kafkajs emits Object.keys(headers) in order, an array value as one header per
// element. So each run of consecutive headers whose names have the same length
// n gets one key: a placeholder of n letters, unique among the runs of length
// n (letters only, never an integer-like key, which objects would reorder).
function rawHeaders(pairs) {
  const headers = Object.create(null)
  const runsOfLength = new Map()
  let lastLength = -1
  let run = null
  for (const [name, value] of pairs) {
    const standIn = value === null ? Buffer.alloc(0) : value
    rawHeader.set(standIn, { name, value })
    if (name.length !== lastLength) {
      const k = runsOfLength.get(name.length) || 0
      runsOfLength.set(name.length, k + 1)
      let placeholder = ''
      for (let i = 0, rest = k; i < name.length; i++, rest = Math.floor(rest / LETTERS.length)) {
        placeholder += LETTERS[rest % LETTERS.length]
      }
      if (k >= Math.pow(LETTERS.length, name.length)) {
        throw new Error(
          `cannot keep header order: too many separate runs of ${name.length}-byte header names`
        )
      }
      run = headers[placeholder] = []
      lastLength = name.length
    }
    run.push(standIn)
  }
  return headers
}

function bytes(hex, what) {
  if (hex === null) return null
  if (typeof hex !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(hex)) {
    throw new Error(`${what}: expected a hex string or null, got ${JSON.stringify(hex)}`)
  }
  return Buffer.from(hex, 'hex')
}

function message(record, i) {
  if (!Number.isInteger(record.partition)) throw new Error(`record ${i}: no partition`)
  const headers = (record.headers || []).map(([name, value], j) => {
    const n = bytes(name, `record ${i} header ${j} name`)
    if (n === null) throw new Error(`record ${i} header ${j}: a header name cannot be null`)
    return [n, bytes(value, `record ${i} header ${j} value`)]
  })
  return {
    partition: record.partition,
    key: bytes(record.key === undefined ? null : record.key, `record ${i} key`),
    value: bytes(record.value === undefined ? null : record.value, `record ${i} value`),
    headers: rawHeaders(headers),
  }
}

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

async function main() {
  const input = await readStdin()
  const messages = input.records.map(message)
  const kafka = new Kafka({
    clientId: 'sluice-testkit-kafkajs',
    brokers: input.brokers.split(','),
    logLevel: logLevel.WARN,
    // Logs go to stderr: stdout carries only the results.
    logCreator: () => ({ level, label, log }) => {
      process.stderr.write(`kafkajs ${label} [${level}] ${JSON.stringify(log)}\n`)
    },
    retry: { retries: 3 },
  })
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: false,
    // Every record names its partition.
    createPartitioner: () => ({ message }) => message.partition,
  })
  await producer.connect()
  try {
    const send = async batch => {
      const metadata = await producer.send({
        topic: input.topic,
        messages: batch,
        acks: -1,
        compression: CompressionTypes.None,
      })
      // One entry per partition, with the base offset of its records, which
      // kafkajs sends in input order.
      const next = new Map(metadata.map(m => [m.partition, BigInt(m.baseOffset)]))
      return batch.map(m => {
        const offset = next.get(m.partition)
        if (offset === undefined) throw new Error(`no offset for partition ${m.partition}`)
        next.set(m.partition, offset + 1n)
        return { partition: m.partition, offset: offset.toString() }
      })
    }
    const results = []
    if (input.one_batch_per_record) {
      for (const m of messages) results.push(...(await send([m])))
    } else if (messages.length > 0) {
      results.push(...(await send(messages)))
    }
    for (const r of results) {
      process.stdout.write(`{"partition":${r.partition},"offset":${r.offset}}\n`)
    }
  } finally {
    await producer.disconnect()
  }
}

main().then(
  () => {
    process.exitCode = 0
  },
  error => {
    process.stderr.write(`produce.js: ${(error && error.stack) || error}\n`)
    process.exit(1)
  }
)
