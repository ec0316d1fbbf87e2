import { createLogger, logFormats, logLevels, type LogFormat, type SagaflowLogger } from "../observe/logger.ts";
import type { LogLevel } from "../observe/log-event.ts";

/** The logger of `sagaflow serve` from `--log-level` and `--log-format` (checked: a typo is an error, not a default). */
export function serveLogging(level: string | undefined, format: string | undefined): SagaflowLogger {
  if (level !== undefined && !logLevels.includes(level as LogLevel)) throw new Error(`--log-level must be one of ${logLevels.join(", ")}, not "${level}"`);
  if (format !== undefined && !logFormats.includes(format as LogFormat)) throw new Error(`--log-format must be one of ${logFormats.join(", ")}, not "${format}"`);
  return createLogger({
    ...(level === undefined ? {} : { level: level as LogLevel }),
    ...(format === undefined ? {} : { format: format as LogFormat }),
  });
}
