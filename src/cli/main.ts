import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../server/config.js';
import { startServer } from '../server/main.js';

const USAGE = `Usage: switchyard <command> [options]

Commands:
  start     Run the server (Tracking API, router, API)

Options for start:
  --port <n>        HTTP port (default 8080, or PORT)
  --host <addr>     Address to bind (default 0.0.0.0, or HOST)
  --data-dir <dir>  Where all state lives (default ./data, or DATA_DIR)
  --config <file>   Workspace file, YAML or JSON (or SWITCHYARD_CONFIG)
`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'start') return start(rest);
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return;
  }
  throw new Error(`unknown command "${command}"\n\n${USAGE}`);
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
    },
    strict: true,
  });
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new Error(`--port must be a port number, got "${values.port}"`);
  const config = loadConfig(process.env, { port, host: values.host, dataDir: values['data-dir'], configFile: values.config });
  const logger = pino({ level: config.logLevel });
  const server = await startServer(config, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests and deliveries');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
