
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'scistream' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'scistream'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'scistream' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'Run the control server (S2CS) and its data plane on a gateway node')
            [CompletionResult]::new('req', 'req', [CompletionResultType]::ParameterValue, 'Drive and inspect sessions on a server (S2UC): prod, cons, release, list, status')
            [CompletionResult]::new('app', 'app', [CompletionResultType]::ParameterValue, 'App controller: send a session''s hello; test a session end to end (send, recv)')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in to a scope with Globus Auth and store its tokens')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Revoke and forget the stored tokens')
            [CompletionResult]::new('check-auth', 'check-auth', [CompletionResultType]::ParameterValue, 'Show the stored access tokens')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the shell completion script for bash, zsh, fish, elvish or powershell')
            [CompletionResult]::new('install-links', 'install-links', [CompletionResultType]::ParameterValue, 'Create the symlinks s2cs, s2uc and appctrl, which speak upstream''s command lines')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'scistream;server' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Control port clients connect to (0: any free port, printed at start)')
            [CompletionResult]::new('--bind', '--bind', [CompletionResultType]::ParameterName, 'Address the control port binds to')
            [CompletionResult]::new('--listener-ip', '--listener-ip', [CompletionResultType]::ParameterName, 'Address the data listeners bind to and advertise to clients: the gateway''s address that the other side can reach (0.0.0.0 cannot be advertised)')
            [CompletionResult]::new('--port-range', '--port-range', [CompletionResultType]::ParameterName, 'Ports the data listeners are taken from, START-END inclusive')
            [CompletionResult]::new('--hello-timeout', '--hello-timeout', [CompletionResultType]::ParameterName, 'Seconds a req waits for its hello before its ports are freed')
            [CompletionResult]::new('--max-conn', '--max-conn', [CompletionResultType]::ParameterName, 'The most listeners (num_conn) one request may ask for')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'TLS certificate (PEM) [default: a self-signed one generated once in the config directory]')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'TLS private key (PEM) for --tls-cert')
            [CompletionResult]::new('--client-id', '--client-id', [CompletionResultType]::ParameterName, 'Globus client id of this server: the scope clients must log in to')
            [CompletionResult]::new('--client-secret', '--client-secret', [CompletionResultType]::ParameterName, 'Client secret of --client-id; it turns token checking on (without one, every call is accepted). Prefer --client-secret-file or the environment: arguments show in `ps`')
            [CompletionResult]::new('--client-secret-file', '--client-secret-file', [CompletionResultType]::ParameterName, 'Read the client secret from this file (surrounding whitespace ignored); wins over --client-secret')
            [CompletionResult]::new('--auth-cache-secs', '--auth-cache-secs', [CompletionResultType]::ParameterName, 'Seconds a positive token check is reused (0: never); a revoked token is refused at most this late. A rejected token is remembered for 10 s regardless')
            [CompletionResult]::new('--metrics', '--metrics', [CompletionResultType]::ParameterName, 'Serve Prometheus metrics on http://ADDR/metrics (plaintext: keep it on a private address, e.g. 127.0.0.1:9100)')
            [CompletionResult]::new('--admin-identity', '--admin-identity', [CompletionResultType]::ParameterName, 'An identity (the `sub` of its tokens) that sees and releases every session, not only its own; repeat for several. Adds to `admin_identities` in the config file')
            [CompletionResult]::new('--admin-group', '--admin-group', [CompletionResultType]::ParameterName, 'Members of this Globus Group (its id, and a name for messages) are admins too; repeatable. Adds to `admin_groups` in the config file')
            [CompletionResult]::new('--allow-domain', '--allow-domain', [CompletionResultType]::ParameterName, 'Admit identities whose username is in DOMAIN (anl.gov), or in its subdomains (*.anl.gov); repeatable. Adds to `policy.allow_domains` in the config file')
            [CompletionResult]::new('--allow-group', '--allow-group', [CompletionResultType]::ParameterName, 'Admit members of this Globus Group (its id, and a name for refusals); repeatable. Adds to `policy.allow_groups` in the config file')
            [CompletionResult]::new('--allow-identity', '--allow-identity', [CompletionResultType]::ParameterName, 'Admit this identity (its id or username); repeatable. Adds to `policy.allow_identities` in the config file')
            [CompletionResult]::new('--deny-identity', '--deny-identity', [CompletionResultType]::ParameterName, 'Refuse this identity (its id or username), whatever admits it; repeatable. Adds to `policy.deny_identities` in the config file')
            [CompletionResult]::new('--authentication-policy', '--authentication-policy', [CompletionResultType]::ParameterName, 'Require logins that meet this Globus authentication policy (high assurance, MFA...); repeatable. Adds to `policy.authentication_policies` in the config file')
            [CompletionResult]::new('--allow-targets', '--allow-targets', [CompletionResultType]::ParameterName, 'Networks sessions may relay to, e.g. 10.16.0.0/16,192.0.2.7 [default: anywhere]; the server itself is never a target')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'The most relayed connections open at once, over all sessions; past it, new ones are reset [default: what the open-file limit allows, printed at start]')
            [CompletionResult]::new('--max-connections-per-source', '--max-connections-per-source', [CompletionResultType]::ParameterName, 'The most relayed connections open at once from one source address (an IPv6 /64 counts as one address), over all sessions; past it, its new ones are reset [default: half of --max-connections]')
            [CompletionResult]::new('--max-session-connections', '--max-session-connections', [CompletionResultType]::ParameterName, 'The most relayed connections open at once in one session; past it, new ones are reset')
            [CompletionResult]::new('--max-session-connection-rate', '--max-session-connection-rate', [CompletionResultType]::ParameterName, 'New relayed connections one session may open per second (as many at once after a quiet second); past it, they are reset. Stops two gateways made to relay into each other at once')
            [CompletionResult]::new('--relay-idle-timeout', '--relay-idle-timeout', [CompletionResultType]::ParameterName, 'Seconds a relayed connection may move no data either way before it is reset [default: never, so that quiet streams are not cut]')
            [CompletionResult]::new('--max-control-connections', '--max-control-connections', [CompletionResultType]::ParameterName, 'The most control connections open at once; past it, a new one takes the place of the oldest that has no call in progress and no authenticated call, or is closed at once')
            [CompletionResult]::new('--max-control-connections-per-ip', '--max-control-connections-per-ip', [CompletionResultType]::ParameterName, 'The most control connections open at once from one client IP address (from one /64, for IPv6)')
            [CompletionResult]::new('--control-idle-timeout', '--control-idle-timeout', [CompletionResultType]::ParameterName, 'Seconds a control connection may stay open with no call in progress (a req waiting for its hello is in progress)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Directory of the session store: every session is kept there and taken back when the server starts again (0700; it holds the PROD sessions'' hop keys) [default: beside --config when one is given (DIR/state), else $STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/scistream]')
            [CompletionResult]::new('--take-over', '--take-over', [CompletionResultType]::ParameterName, 'Take over from the server running with this --state-dir, through its handover socket (STATE_DIR/handover.sock): its control and metrics listeners, its sessions with their listeners, and its plain relayed connections, which go on where they were; no listener closes. `systemctl reload` (SIGHUP) does this with the binary now on disk. --port, --bind and --metrics are the running server''s. If the handover fails, the running server goes on serving and this one exits')
            [CompletionResult]::new('--drain-timeout', '--drain-timeout', [CompletionResultType]::ParameterName, 'Seconds a server that handed its sessions over (a live upgrade) lets its encrypted connections, whose TLS state cannot move, run on before it resets them and exits')
            [CompletionResult]::new('--rate-policy', '--rate-policy', [CompletionResultType]::ParameterName, 'What a session''s requested rate (kb/s) means: ignore it, limit the session to it (each direction, over its connections; rate 0: no limit), or reserve it out of --bandwidth and refuse sessions that do not fit')
            [CompletionResult]::new('--bandwidth', '--bandwidth', [CompletionResultType]::ParameterName, 'The bandwidth --rate-policy reserve shares out: bits per second with a unit (40G, 500M) or kb/s (in a pool, this node''s: each node promises its part of a session''s rate)')
            [CompletionResult]::new('--listener-allow-from', '--listener-allow-from', [CompletionResultType]::ParameterName, 'Networks that may connect to the listeners of sessions that name none of their own (req --allow-from), e.g. 10.16.0.0/16 [default: anywhere]; others are reset')
            [CompletionResult]::new('--quota-sessions', '--quota-sessions', [CompletionResultType]::ParameterName, 'The most sessions one identity holds at once; past it, its reqs are refused (RESOURCE_EXHAUSTED) until it releases one. Wins over `quotas.default.sessions` in the config file; `quotas.identities` and `quotas.groups` override it [default: 100]')
            [CompletionResult]::new('--quota-listeners', '--quota-listeners', [CompletionResultType]::ParameterName, 'The most listeners (ports) one identity holds at once, over all of its sessions [default: 1000]')
            [CompletionResult]::new('--quota-connections', '--quota-connections', [CompletionResultType]::ParameterName, 'The most relayed connections open at once over all of one identity''s sessions (in a pool: on each node); past it, new ones are reset [default: 4096]')
            [CompletionResult]::new('--quota-max-rate', '--quota-max-rate', [CompletionResultType]::ParameterName, 'The highest rate one identity''s session may ask for, where --rate-policy enforces rates: bits per second with a unit (10G) or kb/s [default: any]')
            [CompletionResult]::new('--session-lifetime', '--session-lifetime', [CompletionResultType]::ParameterName, 'How long a session lives when its req asks for no lifetime (req --lifetime; the Python client never asks): 90s, 30m, 12h, 7d')
            [CompletionResult]::new('--max-session-lifetime', '--max-session-lifetime', [CompletionResultType]::ParameterName, 'The longest lifetime a session gets: longer asks are cut to it')
            [CompletionResult]::new('--session-idle-timeout', '--session-idle-timeout', [CompletionResultType]::ParameterName, 'A relaying session with no relayed connection open for this long is released')
            [CompletionResult]::new('--update-timeout', '--update-timeout', [CompletionResultType]::ParameterName, 'A session that got its hello but no update for this long is released (its setup failed halfway)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'Join a pool of gateway nodes whose sessions live in etcd at these client URLs (http://HOST:2379, or https:// with --cluster-ca), instead of in --state-dir; adds to `cluster.urls` in the config file')
            [CompletionResult]::new('--pool', '--pool', [CompletionResultType]::ParameterName, 'The pool''s name: several pools may share one etcd [default: cluster.pool in the config file, else "default"]')
            [CompletionResult]::new('--cluster-ca', '--cluster-ca', [CompletionResultType]::ParameterName, 'CA certificate (PEM) that signed etcd''s certificate, for https:// URLs [default: the system''s CAs]')
            [CompletionResult]::new('--cluster-cert', '--cluster-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) this node shows etcd')
            [CompletionResult]::new('--cluster-key', '--cluster-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --cluster-cert')
            [CompletionResult]::new('--node-name', '--node-name', [CompletionResultType]::ParameterName, 'This node''s name in the pool, unique in it [default: cluster.node_name in the config file, else the host name]')
            [CompletionResult]::new('--cluster-lease', '--cluster-lease', [CompletionResultType]::ParameterName, 'Seconds the node''s registration outlives its last renewal: a node that stops shows its listeners lost after at most this long [default: cluster.lease_secs, else 10]')
            [CompletionResult]::new('--placement', '--placement', [CompletionResultType]::ParameterName, 'Where a req''s listeners go: spread over the pool''s live nodes, least loaded first, or all on the node that got the req (one address per session) [default: cluster.placement, else spread]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--no-tls', '--no-tls', [CompletionResultType]::ParameterName, 'Serve plaintext gRPC: tokens would cross the network in the clear')
            [CompletionResult]::new('--linked-identities', '--linked-identities', [CompletionResultType]::ParameterName, 'Let any identity linked to the token''s satisfy --allow-domain and --allow-identity (policy.linked_identities)')
            [CompletionResult]::new('--forget-sessions', '--forget-sessions', [CompletionResultType]::ParameterName, 'Start with no sessions: drop the ones the store holds (their listeners were closed when the last server stopped)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('drain', 'drain', [CompletionResultType]::ParameterValue, 'Stop placing new sessions on a node of a pool while its sessions run on (--undo: place them there again); the mark is kept in etcd, across the node''s restarts. On the node itself, SIGUSR1 does the same and SIGUSR2 undoes it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'scistream;server;drain' {
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'Join a pool of gateway nodes whose sessions live in etcd at these client URLs (http://HOST:2379, or https:// with --cluster-ca), instead of in --state-dir; adds to `cluster.urls` in the config file')
            [CompletionResult]::new('--pool', '--pool', [CompletionResultType]::ParameterName, 'The pool''s name: several pools may share one etcd [default: cluster.pool in the config file, else "default"]')
            [CompletionResult]::new('--cluster-ca', '--cluster-ca', [CompletionResultType]::ParameterName, 'CA certificate (PEM) that signed etcd''s certificate, for https:// URLs [default: the system''s CAs]')
            [CompletionResult]::new('--cluster-cert', '--cluster-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) this node shows etcd')
            [CompletionResult]::new('--cluster-key', '--cluster-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --cluster-cert')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--undo', '--undo', [CompletionResultType]::ParameterName, 'Place new sessions on the node again')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;server;help' {
            [CompletionResult]::new('drain', 'drain', [CompletionResultType]::ParameterValue, 'Stop placing new sessions on a node of a pool while its sessions run on (--undo: place them there again); the mark is kept in etcd, across the node''s restarts. On the node itself, SIGUSR1 does the same and SIGUSR2 undoes it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'scistream;server;help;drain' {
            break
        }
        'scistream;server;help;help' {
            break
        }
        'scistream;req' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('prod', 'prod', [CompletionResultType]::ParameterValue, 'Open a PROD session: listeners on the producer-side gateway, relayed to the producer''s ports')
            [CompletionResult]::new('cons', 'cons', [CompletionResultType]::ParameterValue, 'Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session''s listeners')
            [CompletionResult]::new('stream', 'stream', [CompletionResultType]::ParameterValue, 'Open a whole stream: the PROD session on one gateway, then the CONS session on another, relaying to it over the encrypted hop; prints the uid and the CONS listeners')
            [CompletionResult]::new('release', 'release', [CompletionResultType]::ParameterValue, 'Release a session: close its listeners and connections and free its ports')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the sessions a server holds: role, state, age, connections, bytes, listeners, targets')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show one session: its listeners and their targets, connections and bytes relayed')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'scistream;req;prod' {
            [CompletionResult]::new('--s2cs', '--s2cs', [CompletionResultType]::ParameterName, 'Control server (S2CS) address')
            [CompletionResult]::new('--server-cert', '--server-cert', [CompletionResultType]::ParameterName, 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Scope whose token to send [default: the one the config file maps this server to]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]')
            [CompletionResult]::new('--num-conn', '--num-conn', [CompletionResultType]::ParameterName, 'Number of listeners (parallel connections) the session opens')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0: no limit. The server''s --rate-policy decides whether it is ignored, enforced or reserved')
            [CompletionResult]::new('--allow-from', '--allow-from', [CompletionResultType]::ParameterName, 'Only these networks may connect to the session''s listeners (others are reset), e.g. 10.20.0.0/16,192.0.2.7 [default: the server''s --listener-allow-from, else anywhere]')
            [CompletionResult]::new('--lifetime', '--lifetime', [CompletionResultType]::ParameterName, 'How long the session is to live before the server releases it: 90s, 30m, 12h, 7d [default: the server''s --session-lifetime; the server cuts it to its --max-session-lifetime]')
            [CompletionResult]::new('--remote-ip', '--remote-ip', [CompletionResultType]::ParameterName, 'Address of the producer application (sent in the hello with --receiver-ports)')
            [CompletionResult]::new('--receiver-ports', '--receiver-ports', [CompletionResultType]::ParameterName, 'The producer application''s ports: this command then sends the hello itself; without them it waits for an app controller''s hello')
            [CompletionResult]::new('--uid', '--uid', [CompletionResultType]::ParameterName, 'Session uid to use instead of a fresh one: one an app controller was already given')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--no-tls', '--no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext gRPC to a server started with --no-tls')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text')
            [CompletionResult]::new('--show-token', '--show-token', [CompletionResultType]::ParameterName, 'Show the whole access token in the header instead of its first characters')
            [CompletionResult]::new('--plaintext-hop', '--plaintext-hop', [CompletionResultType]::ParameterName, 'Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does: anyone who reaches the PROD listeners reads the stream. Only on a network you trust')
            [CompletionResult]::new('--require-encryption', '--require-encryption', [CompletionResultType]::ParameterName, 'Fail (exit 1, the session released) instead of falling back to a plaintext hop when a gateway lacks the encrypted hop')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;req;cons' {
            [CompletionResult]::new('--s2cs', '--s2cs', [CompletionResultType]::ParameterName, 'Control server (S2CS) address')
            [CompletionResult]::new('--server-cert', '--server-cert', [CompletionResultType]::ParameterName, 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Scope whose token to send [default: the one the config file maps this server to]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]')
            [CompletionResult]::new('--num-conn', '--num-conn', [CompletionResultType]::ParameterName, 'Number of listeners (parallel connections) the session opens')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0: no limit. The server''s --rate-policy decides whether it is ignored, enforced or reserved')
            [CompletionResult]::new('--allow-from', '--allow-from', [CompletionResultType]::ParameterName, 'Only these networks may connect to the session''s listeners (others are reset), e.g. 10.20.0.0/16,192.0.2.7 [default: the server''s --listener-allow-from, else anywhere]')
            [CompletionResult]::new('--lifetime', '--lifetime', [CompletionResultType]::ParameterName, 'How long the session is to live before the server releases it: 90s, 30m, 12h, 7d [default: the server''s --session-lifetime; the server cuts it to its --max-session-lifetime]')
            [CompletionResult]::new('--prod-s2cs', '--prod-s2cs', [CompletionResultType]::ParameterName, 'The PROD session''s control server, asked for the session''s hop credential (not used with --plaintext-hop) [default: the first PROD listener''s host, port 5000]')
            [CompletionResult]::new('--prod-server-cert', '--prod-server-cert', [CompletionResultType]::ParameterName, 'Trust this certificate (PEM) for --prod-s2cs [default: as --server-cert]')
            [CompletionResult]::new('--prod-scope', '--prod-scope', [CompletionResultType]::ParameterName, 'Scope whose token to send to --prod-s2cs [default: the one the config file maps it to]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--no-tls', '--no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext gRPC to a server started with --no-tls')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text')
            [CompletionResult]::new('--show-token', '--show-token', [CompletionResultType]::ParameterName, 'Show the whole access token in the header instead of its first characters')
            [CompletionResult]::new('--plaintext-hop', '--plaintext-hop', [CompletionResultType]::ParameterName, 'Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does: anyone who reaches the PROD listeners reads the stream. Only on a network you trust')
            [CompletionResult]::new('--require-encryption', '--require-encryption', [CompletionResultType]::ParameterName, 'Fail (exit 1, the session released) instead of falling back to a plaintext hop when a gateway lacks the encrypted hop')
            [CompletionResult]::new('--allow-plaintext-fallback', '--allow-plaintext-fallback', [CompletionResultType]::ParameterName, 'When the CONS gateway lacks the encrypted hop, turn the encrypted PROD session''s hop plaintext (with a warning) instead of failing: anyone who reaches the PROD listeners then reads the stream. Only on a network you trust')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;req;stream' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for each server: to connect, and for each call [default: as `req prod`]')
            [CompletionResult]::new('--prod-s2cs', '--prod-s2cs', [CompletionResultType]::ParameterName, 'The producer-side control server (S2CS)')
            [CompletionResult]::new('--cons-s2cs', '--cons-s2cs', [CompletionResultType]::ParameterName, 'The consumer-side control server (S2CS)')
            [CompletionResult]::new('--server-cert', '--server-cert', [CompletionResultType]::ParameterName, 'Trust this certificate (PEM) for both servers [default: the one a local server generated, else the system roots]')
            [CompletionResult]::new('--prod-server-cert', '--prod-server-cert', [CompletionResultType]::ParameterName, 'Trust this certificate (PEM) for --prod-s2cs [default: as --server-cert]')
            [CompletionResult]::new('--cons-server-cert', '--cons-server-cert', [CompletionResultType]::ParameterName, 'Trust this certificate (PEM) for --cons-s2cs [default: as --server-cert]')
            [CompletionResult]::new('--prod-scope', '--prod-scope', [CompletionResultType]::ParameterName, 'Scope whose token to send to --prod-s2cs [default: the one the config file maps it to]')
            [CompletionResult]::new('--cons-scope', '--cons-scope', [CompletionResultType]::ParameterName, 'Scope whose token to send to --cons-s2cs [default: the one the config file maps it to]')
            [CompletionResult]::new('--num-conn', '--num-conn', [CompletionResultType]::ParameterName, 'Number of listeners (parallel connections) the session opens')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0: no limit. The server''s --rate-policy decides whether it is ignored, enforced or reserved')
            [CompletionResult]::new('--allow-from', '--allow-from', [CompletionResultType]::ParameterName, 'Only these networks may connect to the session''s listeners (others are reset), e.g. 10.20.0.0/16,192.0.2.7 [default: the server''s --listener-allow-from, else anywhere]')
            [CompletionResult]::new('--lifetime', '--lifetime', [CompletionResultType]::ParameterName, 'How long the session is to live before the server releases it: 90s, 30m, 12h, 7d [default: the server''s --session-lifetime; the server cuts it to its --max-session-lifetime]')
            [CompletionResult]::new('--prod-allow-from', '--prod-allow-from', [CompletionResultType]::ParameterName, 'Only these networks may connect to the PROD session''s listeners: the CONS gateway''s (--allow-from restricts the CONS listeners, which consumers use)')
            [CompletionResult]::new('--remote-ip', '--remote-ip', [CompletionResultType]::ParameterName, 'Address of the producer application (sent in the PROD session''s hello)')
            [CompletionResult]::new('--receiver-ports', '--receiver-ports', [CompletionResultType]::ParameterName, 'The producer application''s ports')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--no-tls', '--no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext gRPC to both servers (started with --no-tls)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text')
            [CompletionResult]::new('--show-token', '--show-token', [CompletionResultType]::ParameterName, 'Show the whole access token in the header instead of its first characters')
            [CompletionResult]::new('--plaintext-hop', '--plaintext-hop', [CompletionResultType]::ParameterName, 'Relay the gateway-to-gateway hop unencrypted and unauthenticated, as SciStream 1.2 does: anyone who reaches the PROD listeners reads the stream. Only on a network you trust')
            [CompletionResult]::new('--require-encryption', '--require-encryption', [CompletionResultType]::ParameterName, 'Fail (exit 1, the session released) instead of falling back to a plaintext hop when a gateway lacks the encrypted hop')
            [CompletionResult]::new('--allow-plaintext-fallback', '--allow-plaintext-fallback', [CompletionResultType]::ParameterName, 'When the CONS gateway lacks the encrypted hop, turn the encrypted PROD session''s hop plaintext (with a warning) instead of failing: anyone who reaches the PROD listeners then reads the stream. Only on a network you trust')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;req;release' {
            [CompletionResult]::new('--s2cs', '--s2cs', [CompletionResultType]::ParameterName, 'Control server (S2CS) address')
            [CompletionResult]::new('--server-cert', '--server-cert', [CompletionResultType]::ParameterName, 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Scope whose token to send [default: the one the config file maps this server to]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--no-tls', '--no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext gRPC to a server started with --no-tls')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (uid, s2cs, listeners, targets) instead of text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;req;list' {
            [CompletionResult]::new('--s2cs', '--s2cs', [CompletionResultType]::ParameterName, 'Control server (S2CS) address')
            [CompletionResult]::new('--server-cert', '--server-cert', [CompletionResultType]::ParameterName, 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Scope whose token to send [default: the one the config file maps this server to]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--no-tls', '--no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext gRPC to a server started with --no-tls')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON array of sessions instead of a table')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;req;status' {
            [CompletionResult]::new('--s2cs', '--s2cs', [CompletionResultType]::ParameterName, 'Control server (S2CS) address')
            [CompletionResult]::new('--server-cert', '--server-cert', [CompletionResultType]::ParameterName, 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Scope whose token to send [default: the one the config file maps this server to]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--no-tls', '--no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext gRPC to a server started with --no-tls')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object instead of text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;req;help' {
            [CompletionResult]::new('prod', 'prod', [CompletionResultType]::ParameterValue, 'Open a PROD session: listeners on the producer-side gateway, relayed to the producer''s ports')
            [CompletionResult]::new('cons', 'cons', [CompletionResultType]::ParameterValue, 'Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session''s listeners')
            [CompletionResult]::new('stream', 'stream', [CompletionResultType]::ParameterValue, 'Open a whole stream: the PROD session on one gateway, then the CONS session on another, relaying to it over the encrypted hop; prints the uid and the CONS listeners')
            [CompletionResult]::new('release', 'release', [CompletionResultType]::ParameterValue, 'Release a session: close its listeners and connections and free its ports')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the sessions a server holds: role, state, age, connections, bytes, listeners, targets')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show one session: its listeners and their targets, connections and bytes relayed')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'scistream;req;help;prod' {
            break
        }
        'scistream;req;help;cons' {
            break
        }
        'scistream;req;help;stream' {
            break
        }
        'scistream;req;help;release' {
            break
        }
        'scistream;req;help;list' {
            break
        }
        'scistream;req;help;status' {
            break
        }
        'scistream;req;help;help' {
            break
        }
        'scistream;app' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('hello', 'hello', [CompletionResultType]::ParameterValue, 'Send a session''s hello: tell a PROD session where the producer application listens')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum')
            [CompletionResult]::new('recv', 'recv', [CompletionResultType]::ParameterValue, 'Receive and verify `app send`''s streams; prints the same checksum as the sender')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'scistream;app;hello' {
            [CompletionResult]::new('--s2cs', '--s2cs', [CompletionResultType]::ParameterName, 'Control server (S2CS) address')
            [CompletionResult]::new('--server-cert', '--server-cert', [CompletionResultType]::ParameterName, 'Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Scope whose token to send [default: the one the config file maps this server to]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for the server: to connect, and for each call [default: 10 to connect, 210 for a req (the server''s default hello timeout, 180, plus a margin), 30 for the others]')
            [CompletionResult]::new('--prod-listeners', '--prod-listeners', [CompletionResultType]::ParameterName, 'The producer application''s addresses, comma-separated host:port')
            [CompletionResult]::new('--role', '--role', [CompletionResultType]::ParameterName, 'Role the hello names (the session keeps the role its req gave)')
            [CompletionResult]::new('--attempts', '--attempts', [CompletionResultType]::ParameterName, 'Tries before giving up while the server is unreachable or not ready')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--no-tls', '--no-tls', [CompletionResultType]::ParameterName, 'Talk plaintext gRPC to a server started with --no-tls')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (uid, s2cs, message, listeners) instead of text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;app;send' {
            [CompletionResult]::new('--connect', '--connect', [CompletionResultType]::ParameterName, 'Open the connections to HOST:PORT: a session''s listener, or the other end''s --listen')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Accept the other end''s connections on HOST:PORT (port 0: any free port; the address is printed on stderr)')
            [CompletionResult]::new('--bytes', '--bytes', [CompletionResultType]::ParameterName, 'Send this many bytes in all, split over the streams (suffix K, M, G or T: binary units)')
            [CompletionResult]::new('--seconds', '--seconds', [CompletionResultType]::ParameterName, 'Send for this long [default: 10 unless --bytes is given]')
            [CompletionResult]::new('--streams', '--streams', [CompletionResultType]::ParameterName, 'Parallel connections (at most 64); with --listen, the first K accepted (with --run-token, the first K that prove it)')
            [CompletionResult]::new('--run-token', '--run-token', [CompletionResultType]::ParameterName, 'A token of this run, given to both ends (`app send` and `app recv`): each then takes only connections that prove it, so a stranger''s connection neither counts as a stream nor fails the transfer. A sha256 of it crosses, never the token. Prefer the environment variable: arguments show in `ps`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (bytes, seconds, gbit_per_s, streams, checksum) instead of text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;app;recv' {
            [CompletionResult]::new('--connect', '--connect', [CompletionResultType]::ParameterName, 'Open the connections to HOST:PORT: a session''s listener, or the other end''s --listen')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Accept the other end''s connections on HOST:PORT (port 0: any free port; the address is printed on stderr)')
            [CompletionResult]::new('--streams', '--streams', [CompletionResultType]::ParameterName, 'With --connect: connections to open, the sender''s --streams (with --listen, the sender''s headers tell)')
            [CompletionResult]::new('--run-token', '--run-token', [CompletionResultType]::ParameterName, 'A token of this run, given to both ends (`app send` and `app recv`): each then takes only connections that prove it, so a stranger''s connection neither counts as a stream nor fails the transfer. A sha256 of it crosses, never the token. Prefer the environment variable: arguments show in `ps`')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (bytes, seconds, gbit_per_s, streams, checksum) instead of text')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;app;help' {
            [CompletionResult]::new('hello', 'hello', [CompletionResultType]::ParameterValue, 'Send a session''s hello: tell a PROD session where the producer application listens')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum')
            [CompletionResult]::new('recv', 'recv', [CompletionResultType]::ParameterValue, 'Receive and verify `app send`''s streams; prints the same checksum as the sender')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'scistream;app;help;hello' {
            break
        }
        'scistream;app;help;send' {
            break
        }
        'scistream;app;help;recv' {
            break
        }
        'scistream;app;help;help' {
            break
        }
        'scistream;login' {
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Scope to log in to: the client id of the control servers you will use')
            [CompletionResult]::new('--map', '--map', [CompletionResultType]::ParameterName, 'Record that this server address uses the scope (repeatable); works when already logged in')
            [CompletionResult]::new('--required-domain', '--required-domain', [CompletionResultType]::ParameterName, 'Log in with an identity from this domain, as a gateway''s refusal asks (repeatable: one of them); implies a new login, like --force')
            [CompletionResult]::new('--required-identity', '--required-identity', [CompletionResultType]::ParameterName, 'Log in with this identity (its id); repeatable; implies a new login')
            [CompletionResult]::new('--required-policy', '--required-policy', [CompletionResultType]::ParameterName, 'Log in so as to meet this Globus authentication policy (high assurance, MFA...); repeatable; implies a new login')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Log in again even if a valid token for the scope is stored')
            [CompletionResult]::new('--required-mfa', '--required-mfa', [CompletionResultType]::ParameterName, 'Log in with multi-factor authentication; implies a new login')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;logout' {
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Log out of this scope only [default: every stored scope]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;check-auth' {
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Only this scope [default: every stored scope]')
            [CompletionResult]::new('--s2cs', '--s2cs', [CompletionResultType]::ParameterName, 'Only the scope the server map gives this control server')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON array of {scope, access_token, expires_at, expired}')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;install-links' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file with scopes, tokens and the server-to-scope map [default: $XDG_CONFIG_HOME/scistream/config.yaml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object per line for log shippers')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'scistream;help' {
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'Run the control server (S2CS) and its data plane on a gateway node')
            [CompletionResult]::new('req', 'req', [CompletionResultType]::ParameterValue, 'Drive and inspect sessions on a server (S2UC): prod, cons, release, list, status')
            [CompletionResult]::new('app', 'app', [CompletionResultType]::ParameterValue, 'App controller: send a session''s hello; test a session end to end (send, recv)')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in to a scope with Globus Auth and store its tokens')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Revoke and forget the stored tokens')
            [CompletionResult]::new('check-auth', 'check-auth', [CompletionResultType]::ParameterValue, 'Show the stored access tokens')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the shell completion script for bash, zsh, fish, elvish or powershell')
            [CompletionResult]::new('install-links', 'install-links', [CompletionResultType]::ParameterValue, 'Create the symlinks s2cs, s2uc and appctrl, which speak upstream''s command lines')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'scistream;help;server' {
            [CompletionResult]::new('drain', 'drain', [CompletionResultType]::ParameterValue, 'Stop placing new sessions on a node of a pool while its sessions run on (--undo: place them there again); the mark is kept in etcd, across the node''s restarts. On the node itself, SIGUSR1 does the same and SIGUSR2 undoes it')
            break
        }
        'scistream;help;server;drain' {
            break
        }
        'scistream;help;req' {
            [CompletionResult]::new('prod', 'prod', [CompletionResultType]::ParameterValue, 'Open a PROD session: listeners on the producer-side gateway, relayed to the producer''s ports')
            [CompletionResult]::new('cons', 'cons', [CompletionResultType]::ParameterValue, 'Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session''s listeners')
            [CompletionResult]::new('stream', 'stream', [CompletionResultType]::ParameterValue, 'Open a whole stream: the PROD session on one gateway, then the CONS session on another, relaying to it over the encrypted hop; prints the uid and the CONS listeners')
            [CompletionResult]::new('release', 'release', [CompletionResultType]::ParameterValue, 'Release a session: close its listeners and connections and free its ports')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the sessions a server holds: role, state, age, connections, bytes, listeners, targets')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show one session: its listeners and their targets, connections and bytes relayed')
            break
        }
        'scistream;help;req;prod' {
            break
        }
        'scistream;help;req;cons' {
            break
        }
        'scistream;help;req;stream' {
            break
        }
        'scistream;help;req;release' {
            break
        }
        'scistream;help;req;list' {
            break
        }
        'scistream;help;req;status' {
            break
        }
        'scistream;help;app' {
            [CompletionResult]::new('hello', 'hello', [CompletionResultType]::ParameterValue, 'Send a session''s hello: tell a PROD session where the producer application listens')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Send test data memory-to-memory over K connections; prints bytes, Gbit/s and a checksum')
            [CompletionResult]::new('recv', 'recv', [CompletionResultType]::ParameterValue, 'Receive and verify `app send`''s streams; prints the same checksum as the sender')
            break
        }
        'scistream;help;app;hello' {
            break
        }
        'scistream;help;app;send' {
            break
        }
        'scistream;help;app;recv' {
            break
        }
        'scistream;help;login' {
            break
        }
        'scistream;help;logout' {
            break
        }
        'scistream;help;check-auth' {
            break
        }
        'scistream;help;completions' {
            break
        }
        'scistream;help;install-links' {
            break
        }
        'scistream;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
