/** Ready-to-paste code pointing Segment's own libraries at this server. */
export function analyticsJsSnippet(host: string, writeKey: string): string {
  // Segment's standard snippet (5.2.0) with only its host changed, plus `analytics._cdn`:
  // over plain http analytics.js cannot infer its CDN from the script URL (Segment's custom-proxy setting).
  return `<script>
  !function(){var i="analytics",analytics=window[i]=window[i]||[];if(!analytics.initialize)if(analytics.invoked)window.console&&console.error&&console.error("Segment snippet included twice.");else{analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview","identify","reset","group","track","ready","alias","debug","page","screen","once","off","on","addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware","register"];analytics.factory=function(e){return function(){if(window[i].initialized)return window[i][e].apply(window[i],arguments);var n=Array.prototype.slice.call(arguments);n.unshift(e);analytics.push(n);return analytics}};for(var n=0;n<analytics.methods.length;n++){var key=analytics.methods[n];analytics[key]=analytics.factory(key)}analytics.load=function(key,n){var t=document.createElement("script");t.type="text/javascript";t.async=!0;t.setAttribute("data-global-segment-analytics-key",i);t.src="${host}/analytics.js/v1/"+key+"/analytics.min.js";var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(t,r);analytics._loadOptions=n};analytics._writeKey="${writeKey}";analytics.SNIPPET_VERSION="5.2.0";
  analytics._cdn="${host}";
  analytics.load("${writeKey}");
  analytics.page();
  }}();
</script>`;
}

export function analyticsNextSnippet(host: string, writeKey: string): string {
  return `// npm install @segment/analytics-next
import { AnalyticsBrowser } from '@segment/analytics-next';

export const analytics = AnalyticsBrowser.load({
  writeKey: '${writeKey}',
  cdnURL: '${host}',
});

analytics.track('Signed Up', { plan: 'pro' });`;
}

export function analyticsNodeSnippet(host: string, writeKey: string): string {
  return `// npm install @segment/analytics-node
import { Analytics } from '@segment/analytics-node';

const analytics = new Analytics({
  writeKey: '${writeKey}',
  host: '${host}',
});

analytics.identify({ userId: 'user-1', traits: { email: 'ada@example.com' } });
analytics.track({ userId: 'user-1', event: 'Order Completed', properties: { total: 42 } });

// Before your process exits:
await analytics.closeAndFlush();`;
}

export function curlSnippet(host: string, writeKey: string): string {
  return `curl ${host}/v1/track \\
  -u '${writeKey}:' \\
  -H 'Content-Type: application/json' \\
  -d '{"userId": "user-1", "event": "Test Event", "properties": {"from": "curl"}}'`;
}
