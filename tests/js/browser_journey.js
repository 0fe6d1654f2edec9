// The customer journey through the real, unmodified @segment/analytics-next (analytics.js),
// bundled by esbuild into an IIFE for a test page (see tests/test_server_js_sdks.py).
//
// The page sets `window.__JOURNEY = {writeKey, apiHost, anonymousId, userId, email, phone}`
// (apiHost like "127.0.0.1:PORT/v1", no scheme; optionally `deliveryStrategy`, the Segment.io
// setting) before loading the bundle. Settings are inline:
// nothing is fetched from Segment's CDN. When the journey is over, `window.__done` holds
// {calls: [{call, failed}], errors: [...], anonymousId}; `window.__failed` a thrown error.
import { AnalyticsBrowser } from '@segment/analytics-next'

async function journey(cfg) {
  const segment = { apiKey: cfg.writeKey, apiHost: cfg.apiHost, protocol: 'http' }
  if (cfg.deliveryStrategy) segment.deliveryStrategy = cfg.deliveryStrategy // e.g. batching
  const [analytics] = await AnalyticsBrowser.load(
    { writeKey: cfg.writeKey, cdnSettings: { integrations: { 'Segment.io': segment } } },
    { integrations: { 'Segment.io': segment } },
  )
  const errors = []
  analytics.on('error', (err) => errors.push({ code: err.code, reason: String(err.reason) }))
  analytics.setAnonymousId(cfg.anonymousId)

  const calls = []
  const run = async (call, promise) => {
    const ctx = await promise
    const failed = ctx.failedDelivery()
    calls.push({ call, failed: failed ? String(failed.reason) : null })
  }
  await run('page Home', analytics.page('Home', { path: '/' }))
  await run('page Shoes', analytics.page('Shoes', { path: '/shoes' }))
  await run('track Product Viewed', analytics.track('Product Viewed', { sku: 'SH-1' }))
  await run(
    'identify',
    analytics.identify(cfg.userId, { email: cfg.email, phone: cfg.phone, name: 'Ann Lee' }),
  )
  await run('alias', analytics.alias(cfg.userId, cfg.anonymousId))
  await run(
    'track Order Completed',
    analytics.track('Order Completed', { revenue: 42.5, currency: 'USD' }),
  )
  return { calls, errors, anonymousId: analytics.user().anonymousId() }
}

journey(window.__JOURNEY).then(
  (result) => {
    window.__done = result
  },
  (err) => {
    window.__failed = String((err && err.stack) || err)
  },
)
