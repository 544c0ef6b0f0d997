// A js-libp2p gossipsub node that tests/test_interop_js.py drives: TCP, Noise,
// yamux (what troth's hosts speak), gossipsub 1.1 with strict signing.
//
// Commands arrive as JSON lines on stdin; events leave as JSON lines on
// stdout. With TROTH_MSG_ID=1 gossipsub computes message ids troth's way
// (docs/decisions/0013-gossip-message-ids.md): the originator's peer id bytes
// followed by the 8-byte seqno. Every received message reports both that id
// and the id js-libp2p computes by default, so the test can tell them apart.
//
//   {"cmd": "subscribe", "topic": T}    -> {"event": "subscribed"}
//   {"cmd": "dial", "addr": MULTIADDR}  -> {"event": "dialled", "peer": ID}
//   {"cmd": "publish", "topic": T, "data": HEX} -> {"event": "published", "recipients": N}
//   {"cmd": "stop"}                     -> exits
//   (any time) {"event": "message", "topic", "from", "seqno", "data", "msg_id",
//               "troth_id", "default_id"} (ids in hex)

import { createInterface } from 'node:readline'

// Node 20 lacks Promise.withResolvers (Node 22 has it), which some of
// js-libp2p 2.x's dependencies call; the libraries are imported after it.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
const { gossipsub } = await import('@chainsafe/libp2p-gossipsub')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { publicKeyToProtobuf } = await import('@libp2p/crypto/keys')
const { identify } = await import('@libp2p/identify')
const { tcp } = await import('@libp2p/tcp')
const { multiaddr } = await import('@multiformats/multiaddr')
const { createLibp2p } = await import('libp2p')

const hex = (bytes) => Buffer.from(bytes).toString('hex')

function seqnoBytes (seqno) {
  const out = Buffer.alloc(8)
  out.writeBigUInt64BE(seqno)
  return out
}

// troth's rule (and go-libp2p's and py-libp2p's default): from || seqno.
function trothMsgId (msg) {
  return Buffer.concat([msg.from.toMultihash().bytes, seqnoBytes(msg.sequenceNumber)])
}

// js-libp2p gossipsub 14's default (msgIdFnStrictSign): the protobuf of the
// originator's public key || seqno.
function defaultMsgId (msg) {
  return Buffer.concat([publicKeyToProtobuf(msg.from.publicKey), seqnoBytes(msg.sequenceNumber)])
}

const useTroth = process.env.TROTH_MSG_ID === '1'
const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    pubsub: gossipsub({
      emitSelf: false,
      allowPublishToZeroTopicPeers: true,
      heartbeatInterval: 1000,
      ...(useTroth ? { msgIdFn: trothMsgId } : {})
    })
  }
})

const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const pubsub = node.services.pubsub

pubsub.addEventListener('gossipsub:message', (evt) => {
  const { msg, msgId } = evt.detail
  if (msg.type !== 'signed') return
  say({
    event: 'message',
    topic: msg.topic,
    from: msg.from.toString(),
    seqno: msg.sequenceNumber.toString(),
    data: hex(msg.data),
    msg_id: hex(Buffer.from(msgId, 'base64')),
    troth_id: hex(trothMsgId(msg)),
    default_id: hex(defaultMsgId(msg))
  })
})

say({ event: 'ready', peer_id: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  const cmd = JSON.parse(line)
  try {
    if (cmd.cmd === 'subscribe') {
      pubsub.subscribe(cmd.topic)
      say({ event: 'subscribed', topic: cmd.topic })
    } else if (cmd.cmd === 'dial') {
      const conn = await node.dial(multiaddr(cmd.addr))
      say({ event: 'dialled', peer: conn.remotePeer.toString() })
    } else if (cmd.cmd === 'publish') {
      const res = await pubsub.publish(cmd.topic, Buffer.from(cmd.data, 'hex'))
      say({ event: 'published', recipients: res.recipients.length })
    } else if (cmd.cmd === 'mesh') {
      say({ event: 'mesh', peers: pubsub.getMeshPeers(cmd.topic).map(String) })
    } else if (cmd.cmd === 'stop') {
      break
    }
  } catch (err) {
    say({ event: 'error', cmd: cmd.cmd, error: String(err) })
  }
}
await node.stop()
process.exit(0)
