// The customer journey through the real, unmodified @segment/analytics-node.
//
//   node node_journey.mjs '{"host": "http://127.0.0.1:PORT", "writeKey": "...",
//                           "anonymousId": "...", "userId": "...", "email": "...", "phone": "..."}'
//
// (or the same JSON in $JOURNEY). Prints one JSON line per HTTP exchange the SDK reports
// ({"request": ...} / {"response": ...}, bodies included) and exits 0 only if every call
// was delivered: any 'error' event, failed callback or undelivered call makes it exit 1.
import { Analytics } from '@segment/analytics-node'

const raw = process.argv[2] ?? process.env.JOURNEY
if (!raw) {
  console.error('usage: node node_journey.mjs \'{"host", "writeKey", "anonymousId", "userId", "email", "phone"}\'')
  process.exit(2)
}
const cfg = JSON.parse(raw)
const errors = []
const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const analytics = new Analytics({
  writeKey: cfg.writeKey,
  host: cfg.host,
  path: '/v1/batch',
  maxRetries: 2,
  flushAt: 20, // the whole journey goes in one batch, sent by closeAndFlush()
  flushInterval: 10000,
  httpRequestTimeout: 10000,
})
analytics.on('error', (err) => errors.push({ code: err.code, reason: String(err.reason) }))
analytics.on('http_request', (r) =>
  print({ request: { method: r.method, url: r.url, headers: r.headers, body: JSON.parse(r.body) } }),
)
analytics.on('http_response', (r) =>
  print({ response: { status: r.status, url: r.url, headers: r.headers } }),
)
let delivered = 0
const callback = (err) => {
  if (err) errors.push({ code: 'callback', reason: String(err) })
  else delivered += 1
}

const anon = cfg.anonymousId
const user = cfg.userId
analytics.page({ anonymousId: anon, name: 'Home', properties: { path: '/' } }, callback)
analytics.page({ anonymousId: anon, name: 'Shoes', properties: { path: '/shoes' } }, callback)
analytics.track({ anonymousId: anon, event: 'Product Viewed', properties: { sku: 'SH-1' } }, callback)
analytics.identify(
  { userId: user, anonymousId: anon, traits: { email: cfg.email, phone: cfg.phone, name: 'Ann Lee' } },
  callback,
)
analytics.alias({ previousId: anon, userId: user }, callback)
analytics.track(
  { userId: user, event: 'Order Completed', properties: { revenue: 42.5, currency: 'USD' } },
  callback,
)
await analytics.closeAndFlush({ timeout: 20000 })

if (errors.length || delivered !== 6) {
  console.error(`analytics-node delivered ${delivered} of 6 calls; errors: ${JSON.stringify(errors)}`)
  process.exit(1)
}
