/**
 * Segment's snippet with only its host changed: the page loads analytics.js from
 * Switchyard (`/analytics.js/v1/<writeKey>/analytics.min.js`), the library takes
 * its CDN from that URL, loads its settings and lazy chunks from Switchyard, and
 * sends the buffered calls to Switchyard's Tracking API. Runs the real standalone
 * bundle in jsdom (scripts enabled, resources loaded over HTTP).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';
import { Harness } from './helpers/harness.js';
import { WRITE_KEY } from './helpers/e2e.js';
import { workspaceYaml } from './helpers/switchyard.js';

const h = new Harness();
after(() => h.cleanup());

test('Segment\'s snippet with only the host changed loads analytics.js from Switchyard and events arrive', async () => {
  const sink = await h.sink();
  const sy = await h.start({ workspace: workspaceYaml([sink.url]) });
  const host = sy.url;
  // The shape of Segment's snippet: a stub queue, then a script tag for analytics.min.js.
  // analytics.js finds its CDN in the script's URL only for https; over plain http the
  // snippet names it with \`analytics._cdn\`, Segment's documented custom-proxy setting.
  const snippet = `
    !function(){var i="analytics",analytics=window[i]=window[i]||[];if(!analytics.initialize)if(analytics.invoked)window.console&&console.error&&console.error("Segment snippet included twice.");else{analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview","identify","reset","group","track","ready","alias","debug","page","screen","once","off","on","addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware","register"];analytics.factory=function(e){return function(){if(window[i].initialized)return window[i][e].apply(window[i],arguments);var n=Array.prototype.slice.call(arguments);n.unshift(e);analytics.push(n);return analytics}};for(var n=0;n<analytics.methods.length;n++){var key=analytics.methods[n];analytics[key]=analytics.factory(key)}analytics.load=function(key,n){var t=document.createElement("script");t.type="text/javascript";t.async=!0;t.setAttribute("data-global-segment-analytics-key",i);t.src="${host}/analytics.js/v1/"+key+"/analytics.min.js";var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(t,r);analytics._loadOptions=n};analytics._writeKey="${WRITE_KEY}";analytics.SNIPPET_VERSION="5.2.0";
    analytics._cdn="${host}";
    analytics.load("${WRITE_KEY}");
    analytics.page();
    analytics.identify("user-7", { plan: "pro" });
    analytics.track("Snippet Event", { via: "snippet" });
    }}();`;
  const outside: string[] = [];
  const dom = new JSDOM(`<!doctype html><html><head><script>${snippet}</script></head><body><h1>Shop</h1></body></html>`, {
    url: 'http://shop.localhost/checkout',
    runScripts: 'dangerously',
    resources: 'usable',
    pretendToBeVisual: true,
    beforeParse(window) {
      // jsdom has no fetch: give the page Node's, so requests really reach Switchyard,
      // and refuse (and record) any request that would leave this machine.
      (window as unknown as { fetch: typeof fetch }).fetch = (input, init) => {
        const url = new URL(String(input instanceof Request ? input.url : input));
        if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
          outside.push(url.href);
          return Promise.reject(new Error(`test refused a request to ${url.href}`));
        }
        return fetch(input, init);
      };
    },
  });
  try {
    await sink.waitFor(3, 20_000);
    const events = sink.received.map((r) => JSON.parse(r.body) as { type: string; event?: string; userId?: string; channel: string; context: { library: { name: string } } });
    assert.deepEqual(events.map((e) => e.type).sort(), ['identify', 'page', 'track']);
    const track = events.find((e) => e.type === 'track')!;
    assert.equal(track.event, 'Snippet Event');
    assert.equal(track.userId, 'user-7');
    assert.equal(track.channel, 'client');
    assert.equal(track.context.library.name, 'analytics.js');
    assert.deepEqual(outside, [], 'the page never reached for a host other than Switchyard');
  } finally {
    dom.window.close();
  }
  const bundle = await fetch(`${host}/analytics.js/v1/${WRITE_KEY}/analytics.min.js`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(bundle.status, 200);
  assert.match(bundle.headers.get('content-type') ?? '', /javascript/);
  assert.equal((await fetch(`${host}/analytics-next/bundles/..%2F..%2Fpackage.json`)).status, 404, 'only the shipped bundles are served');
});
