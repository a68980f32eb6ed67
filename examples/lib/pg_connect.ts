/**
 * Where examples/pgfs.ts connects and with what credentials, by libpq's
 * conventions: a `postgres://` (or `postgresql://`) URL whose host may be
 * a Unix socket directory (`?host=/run/postgresql` or an encoded path in
 * the authority), `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE` as defaults,
 * and the password only from `PGPASSWORD` or the password file
 * (`PGPASSFILE`, default `~/.pgpass`, ignored unless private: mode 0600 or
 * stricter, as libpq does). A password in the URL is refused: the command
 * line is readable by every user in /proc. The password is never part of
 * any message ({@link describeTarget} names the server without it).
 *
 * @module
 */

/** The connection settings pgfs passes to its client. */
export interface PgTarget {
  /** Host name, or a Unix socket directory (starts with "/"). */
  host: string;
  port: number;
  user: string;
  database: string;
  /** From PGPASSWORD or the password file; undefined when neither has one. */
  password?: string;
  /** Where the password came from, for messages (never the password itself). */
  passwordSource?: "PGPASSWORD" | "password file";
  /** Other URL query parameters, passed to the server as settings (e.g. application_name). */
  params: Record<string, string>;
}

/** The socket directory libpq uses when no host is given (Debian's build). */
const DEFAULT_SOCKET_DIR = "/var/run/postgresql";

/**
 * Parses a connection URL, filling the gaps from the environment and the
 * password from PGPASSWORD or the password file.
 *
 * @param url `postgres://[user@][host][:port]/[database][?host=/socket/dir&...]`
 * @param env the environment (default: this process's, read with --allow-env)
 * @returns the settings
 * @throws {Error} for a malformed URL or one carrying a password, with the fix named
 */
export function parseTarget(
  url: string,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): PgTarget {
  const match = /^(postgres(?:ql)?):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/.exec(url);
  if (!match) {
    throw new Error(
      `not a PostgreSQL URL: expected postgres://[user@]host[:port]/database ` +
        `(a Unix socket directory as ?host=/path)`,
    );
  }
  const [, , authority, path = "", query = ""] = match;
  const at = authority.lastIndexOf("@");
  const userInfo = at >= 0 ? authority.slice(0, at) : "";
  const hostPort = at >= 0 ? authority.slice(at + 1) : authority;
  if (userInfo.includes(":")) {
    throw new Error(
      "the URL carries a password, which every user can read on the command line " +
        "(/proc/PID/cmdline): remove it and put it in PGPASSWORD or ~/.pgpass instead",
    );
  }
  const params: Record<string, string> = {};
  let queryHost: string | undefined, queryPort: string | undefined;
  for (const [key, value] of new URLSearchParams(query.slice(1))) {
    if (key === "host") queryHost = value;
    else if (key === "port") queryPort = value;
    else if (key === "password") {
      throw new Error(
        "the URL carries a password (?password=), which every user can read on the command " +
          "line: remove it and put it in PGPASSWORD or ~/.pgpass instead",
      );
    } else if (key === "user") params.__user = value;
    else if (key === "dbname") params.__dbname = value;
    else params[key] = value;
  }
  let host = decodeURIComponent(hostPort), port: string | undefined;
  const portMatch = /^(.*?):(\d+)$/.exec(host);
  if (portMatch && !host.startsWith("[")) [, host, port] = portMatch;
  host = queryHost ?? (host || env("PGHOST") || DEFAULT_SOCKET_DIR);
  const portNumber = Number(queryPort ?? port ?? env("PGPORT") ?? 5432);
  if (!Number.isInteger(portNumber) || portNumber <= 0 || portNumber > 65535) {
    throw new Error(`bad port ${queryPort ?? port ?? env("PGPORT")} in the PostgreSQL URL`);
  }
  const user = params.__user ?? (decodeURIComponent(userInfo) || env("PGUSER") || osUser(env));
  const database = params.__dbname ?? (decodeURIComponent(path.slice(1)) || env("PGDATABASE") ||
    user);
  delete params.__user;
  delete params.__dbname;
  const target: PgTarget = { host, port: portNumber, user, database, params };
  const fromEnv = env("PGPASSWORD");
  if (fromEnv !== undefined && fromEnv !== "") {
    target.password = fromEnv;
    target.passwordSource = "PGPASSWORD";
  } else {
    const fromFile = passwordFromFile(target, env);
    if (fromFile !== undefined) {
      target.password = fromFile;
      target.passwordSource = "password file";
    }
  }
  return target;
}

function osUser(env: (name: string) => string | undefined): string {
  return env("USER") ?? env("LOGNAME") ?? "postgres";
}

/**
 * The password for `target` from the password file, libpq's way: lines
 * `hostname:port:database:username:password`, `*` matching anything, `\`
 * escaping `:` and `\`, the first match winning; a Unix socket in the
 * default directory also matches `localhost`. A file readable by group or
 * others is ignored with a warning.
 */
function passwordFromFile(
  target: PgTarget,
  env: (name: string) => string | undefined,
): string | undefined {
  const home = env("HOME");
  const file = env("PGPASSFILE") ?? (home ? `${home}/.pgpass` : undefined);
  if (!file) return undefined;
  let text: string;
  try {
    const info = Deno.statSync(file);
    if (!info.isFile) return undefined;
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      console.error(
        `pgfs: warning: password file ${file} has group or world access; permissions ` +
          `should be u=rw (0600) or less: not using it`,
      );
      return undefined;
    }
    text = Deno.readTextFileSync(file);
  } catch {
    return undefined;
  }
  const hosts = [target.host];
  if (target.host === DEFAULT_SOCKET_DIR || target.host === "/tmp") hosts.push("localhost");
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const fields = splitPassLine(line);
    if (fields.length < 5) continue;
    const [h, p, d, u] = fields;
    const matches = (pattern: string, values: string[]) =>
      pattern === "*" || values.includes(pattern);
    if (
      matches(h, hosts) && matches(p, [String(target.port)]) && matches(d, [target.database]) &&
      matches(u, [target.user])
    ) {
      return fields.slice(4).join(":");
    }
  }
  return undefined;
}

function splitPassLine(line: string): string[] {
  const fields: string[] = [];
  let field = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && i + 1 < line.length) field += line[++i];
    else if (c === ":" && fields.length < 4) {
      fields.push(field);
      field = "";
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/**
 * The server and database for messages: never the password.
 *
 * @param target the settings
 * @returns e.g. `database "fs" as postgres on /run/postgresql:5432`
 */
export function describeTarget(target: PgTarget): string {
  return `database "${target.database}" as ${target.user} on ${target.host}:${target.port}`;
}

/**
 * Removes the password from a message (an error of the client or the
 * server could echo a connection string).
 *
 * @param message any text
 * @param target the settings holding the password
 * @returns the text with every occurrence of the password replaced
 */
export function redact(message: string, target: PgTarget): string {
  const pw = target.password;
  return pw ? message.split(pw).join("********") : message;
}
