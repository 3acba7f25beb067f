import { z } from 'zod';

/** Settings of Segment's classic "Webhooks" destination. */
export const webhookSettings = z
  .object({
    urls: z
      .array(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }))
      .min(1, 'at least one URL is required')
      .max(5, 'at most 5 URLs'),
    headers: z.record(z.string(), z.string()).default({}),
    sharedSecret: z.string().min(1).optional(),
  })
  .strict();

export type WebhookSettings = z.infer<typeof webhookSettings>;
