import type { DestinationTypes } from '../../src/config/workspace-file.js';
import { webhookSettings } from '../../src/destinations/webhook/settings.js';

/** Only the native webhook: enough to parse the fixture below without the Actions catalog. */
export const WEBHOOK_TYPES: DestinationTypes = new Map([['webhook', { settingsSchema: webhookSettings, secretSettings: ['sharedSecret'] }]]);

/** A small workspace file: one source, one webhook destination with a secret. */
export const YAML_FILE = `
workspace: { slug: acme }
sources:
  - slug: web-prod          # sourceId derives from it unless \`id\` is given
    writeKey: wk_web_prod
destinations:
  - name: Orders webhook     # instance name, unique per source
    type: webhook
    sources: [web-prod]
    enabled: true
    settings:
      urls: [http://127.0.0.1:9999/hook]   # up to 5
      headers: { X-Token: abc }
      sharedSecret: s3cret
`;
