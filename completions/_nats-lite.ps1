
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'nats-lite' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'nats-lite'
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
        'nats-lite' {
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show the version and exit (`-v` as nats-server; `-V` is its trace flag)')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Show the version and exit (`-v` as nats-server; `-V` is its trace flag)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('pub', 'pub', [CompletionResultType]::ParameterValue, 'Publish a message')
            [CompletionResult]::new('sub', 'sub', [CompletionResultType]::ParameterValue, 'Subscribe to subjects and print what arrives')
            [CompletionResult]::new('req', 'req', [CompletionResultType]::ParameterValue, 'Send a request and wait for the reply')
            [CompletionResult]::new('reply', 'reply', [CompletionResultType]::ParameterValue, 'Answer requests on a subject')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Measure a server: publishers, subscribers, request/reply latency (like `nats bench`)')
            [CompletionResult]::new('ping', 'ping', [CompletionResultType]::ParameterValue, 'Check a server: connect, show its INFO, time PING/PONG round trips')
            [CompletionResult]::new('cat', 'cat', [CompletionResultType]::ParameterValue, 'Pipe stdin to a server as raw protocol and its output to stdout (like catnats)')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'A live view of a server''s statistics (like nats-top)')
            [CompletionResult]::new('mkpasswd', 'mkpasswd', [CompletionResultType]::ParameterValue, 'Generate a bcrypt hash of a password for a config file')
            [CompletionResult]::new('nkey', 'nkey', [CompletionResultType]::ParameterValue, 'Generate NKeys (seed and public key) and print the public key of a seed')
            [CompletionResult]::new('watch-http', 'watch-http', [CompletionResultType]::ParameterValue, 'Watch HTTP endpoints and alert when their health changes')
            [CompletionResult]::new('watch-host', 'watch-host', [CompletionResultType]::ParameterValue, 'Report load, memory, disk usage and file changes to stdout, NATS, Prometheus, CloudWatch')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions (bash, zsh, fish, powershell, elvish) or write man pages')
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'Run a NATS-protocol broker (flags as nats-server''s)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nats-lite;pub' {
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Publish this many messages ({{Count}} goes from 1 to N)')
            [CompletionResult]::new('--sleep', '--sleep', [CompletionResultType]::ParameterName, 'Wait this long between messages (e.g. 100ms, 1s)')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Header to add, as Key:Value (repeatable)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Header to add, as Key:Value (repeatable)')
            [CompletionResult]::new('--reply', '--reply', [CompletionResultType]::ParameterName, 'Reply subject to send with the message')
            [CompletionResult]::new('--trace-wait', '--trace-wait', [CompletionResultType]::ParameterName, 'With --trace: how long to collect trace events')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'One message per stdin line, sent as lines arrive (for `tail -f | ...`)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Do not log what was published')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Do not log what was published')
            [CompletionResult]::new('--trace', '--trace', [CompletionResultType]::ParameterName, 'Trace the message: each server it crosses (nats-lite, nats-server 2.11+) reports how it came in and where it went; print the trace')
            [CompletionResult]::new('--trace-only', '--trace-only', [CompletionResultType]::ParameterName, 'With --trace: trace without delivering to subscribers (Nats-Trace-Only)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'With --trace: print the trace events as JSON, one per line')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;sub' {
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Join this queue group (each message goes to one member)')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Exit 0 after this many messages')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Stop when no message arrives for this long (see below)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Print bodies only, one per line')
            [CompletionResult]::new('--raw', '--raw', [CompletionResultType]::ParameterName, 'Print bodies only, one per line')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per message: subject, reply, headers, data')
            [CompletionResult]::new('--base64', '--base64', [CompletionResultType]::ParameterName, 'With --json: data as base64 (for binary payloads)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;req' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for replies')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Header to add, as Key:Value (repeatable)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Header to add, as Key:Value (repeatable)')
            [CompletionResult]::new('--replies', '--replies', [CompletionResultType]::ParameterName, 'Wait for this many replies (0: all that arrive before --timeout)')
            [CompletionResult]::new('--trace-wait', '--trace-wait', [CompletionResultType]::ParameterName, 'With --trace: how long to collect trace events')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Print reply bodies only, nothing on stderr')
            [CompletionResult]::new('--raw', '--raw', [CompletionResultType]::ParameterName, 'Print reply bodies only, nothing on stderr')
            [CompletionResult]::new('--trace', '--trace', [CompletionResultType]::ParameterName, 'Trace the message: each server it crosses (nats-lite, nats-server 2.11+) reports how it came in and where it went; print the trace')
            [CompletionResult]::new('--trace-only', '--trace-only', [CompletionResultType]::ParameterName, 'With --trace: trace without delivering to subscribers (Nats-Trace-Only)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'With --trace: print the trace events as JSON, one per line')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;reply' {
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Queue group, so that several repliers share the requests')
            [CompletionResult]::new('--command', '--command', [CompletionResultType]::ParameterName, 'Reply with the stdout of this shell command (request body on its stdin)')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Exit 0 after answering this many requests')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Header to add to replies, as Key:Value (repeatable; templates allowed)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Header to add to replies, as Key:Value (repeatable; templates allowed)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--echo', '--echo', [CompletionResultType]::ParameterName, 'Reply with the request''s body and headers')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Do not log each request')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Do not log each request')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;bench' {
            [CompletionResult]::new('--clients', '--clients', [CompletionResultType]::ParameterName, 'Clients of the mode''s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)')
            [CompletionResult]::new('--subs', '--subs', [CompletionResultType]::ParameterName, 'Subscribers, in pubsub mode (0: publishers only)')
            [CompletionResult]::new('--responders', '--responders', [CompletionResultType]::ParameterName, 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)')
            [CompletionResult]::new('--msgs', '--msgs', [CompletionResultType]::ParameterName, 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Write one CSV row per client to FILE (nats-bench''s columns)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--subject-per-publisher', '--subject-per-publisher', [CompletionResultType]::ParameterName, 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher''s rate is reported)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No progress bar (it is shown on a terminal only, for runs over half a second)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('pub', 'pub', [CompletionResultType]::ParameterValue, 'Publishers only (--clients of them)')
            [CompletionResult]::new('sub', 'sub', [CompletionResultType]::ParameterValue, 'Subscribers only (--clients of them), each waiting for --msgs messages published by something else')
            [CompletionResult]::new('pubsub', 'pubsub', [CompletionResultType]::ParameterValue, 'Publishers (--clients) and subscribers (--subs) together (the default)')
            [CompletionResult]::new('request', 'request', [CompletionResultType]::ParameterValue, 'Requesters (--clients), one request at a time each, with latency percentiles; responders run elsewhere (`bench reply`) or here (--responders)')
            [CompletionResult]::new('reply', 'reply', [CompletionResultType]::ParameterValue, 'Responders (--clients, in one queue group) that echo requests back until --msgs are answered')
            [CompletionResult]::new('churn', 'churn', [CompletionResultType]::ParameterValue, 'Connection churn: --clients workers at a time connect (INFO, CONNECT + PING, PONG) and close, --msgs connections in all, with the connect time''s percentiles')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nats-lite;bench;pub' {
            [CompletionResult]::new('--clients', '--clients', [CompletionResultType]::ParameterName, 'Clients of the mode''s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)')
            [CompletionResult]::new('--subs', '--subs', [CompletionResultType]::ParameterName, 'Subscribers, in pubsub mode (0: publishers only)')
            [CompletionResult]::new('--responders', '--responders', [CompletionResultType]::ParameterName, 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)')
            [CompletionResult]::new('--msgs', '--msgs', [CompletionResultType]::ParameterName, 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Write one CSV row per client to FILE (nats-bench''s columns)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--subject-per-publisher', '--subject-per-publisher', [CompletionResultType]::ParameterName, 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher''s rate is reported)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No progress bar (it is shown on a terminal only, for runs over half a second)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;bench;sub' {
            [CompletionResult]::new('--clients', '--clients', [CompletionResultType]::ParameterName, 'Clients of the mode''s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)')
            [CompletionResult]::new('--subs', '--subs', [CompletionResultType]::ParameterName, 'Subscribers, in pubsub mode (0: publishers only)')
            [CompletionResult]::new('--responders', '--responders', [CompletionResultType]::ParameterName, 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)')
            [CompletionResult]::new('--msgs', '--msgs', [CompletionResultType]::ParameterName, 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Write one CSV row per client to FILE (nats-bench''s columns)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--subject-per-publisher', '--subject-per-publisher', [CompletionResultType]::ParameterName, 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher''s rate is reported)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No progress bar (it is shown on a terminal only, for runs over half a second)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;bench;pubsub' {
            [CompletionResult]::new('--clients', '--clients', [CompletionResultType]::ParameterName, 'Clients of the mode''s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)')
            [CompletionResult]::new('--subs', '--subs', [CompletionResultType]::ParameterName, 'Subscribers, in pubsub mode (0: publishers only)')
            [CompletionResult]::new('--responders', '--responders', [CompletionResultType]::ParameterName, 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)')
            [CompletionResult]::new('--msgs', '--msgs', [CompletionResultType]::ParameterName, 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Write one CSV row per client to FILE (nats-bench''s columns)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--subject-per-publisher', '--subject-per-publisher', [CompletionResultType]::ParameterName, 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher''s rate is reported)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No progress bar (it is shown on a terminal only, for runs over half a second)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;bench;request' {
            [CompletionResult]::new('--clients', '--clients', [CompletionResultType]::ParameterName, 'Clients of the mode''s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)')
            [CompletionResult]::new('--subs', '--subs', [CompletionResultType]::ParameterName, 'Subscribers, in pubsub mode (0: publishers only)')
            [CompletionResult]::new('--responders', '--responders', [CompletionResultType]::ParameterName, 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)')
            [CompletionResult]::new('--msgs', '--msgs', [CompletionResultType]::ParameterName, 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Write one CSV row per client to FILE (nats-bench''s columns)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--subject-per-publisher', '--subject-per-publisher', [CompletionResultType]::ParameterName, 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher''s rate is reported)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No progress bar (it is shown on a terminal only, for runs over half a second)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;bench;reply' {
            [CompletionResult]::new('--clients', '--clients', [CompletionResultType]::ParameterName, 'Clients of the mode''s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)')
            [CompletionResult]::new('--subs', '--subs', [CompletionResultType]::ParameterName, 'Subscribers, in pubsub mode (0: publishers only)')
            [CompletionResult]::new('--responders', '--responders', [CompletionResultType]::ParameterName, 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)')
            [CompletionResult]::new('--msgs', '--msgs', [CompletionResultType]::ParameterName, 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Write one CSV row per client to FILE (nats-bench''s columns)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--subject-per-publisher', '--subject-per-publisher', [CompletionResultType]::ParameterName, 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher''s rate is reported)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No progress bar (it is shown on a terminal only, for runs over half a second)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;bench;churn' {
            [CompletionResult]::new('--clients', '--clients', [CompletionResultType]::ParameterName, 'Clients of the mode''s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)')
            [CompletionResult]::new('--subs', '--subs', [CompletionResultType]::ParameterName, 'Subscribers, in pubsub mode (0: publishers only)')
            [CompletionResult]::new('--responders', '--responders', [CompletionResultType]::ParameterName, 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)')
            [CompletionResult]::new('--msgs', '--msgs', [CompletionResultType]::ParameterName, 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Write one CSV row per client to FILE (nats-bench''s columns)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--subject-per-publisher', '--subject-per-publisher', [CompletionResultType]::ParameterName, 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher''s rate is reported)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No progress bar (it is shown on a terminal only, for runs over half a second)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;bench;help' {
            [CompletionResult]::new('pub', 'pub', [CompletionResultType]::ParameterValue, 'Publishers only (--clients of them)')
            [CompletionResult]::new('sub', 'sub', [CompletionResultType]::ParameterValue, 'Subscribers only (--clients of them), each waiting for --msgs messages published by something else')
            [CompletionResult]::new('pubsub', 'pubsub', [CompletionResultType]::ParameterValue, 'Publishers (--clients) and subscribers (--subs) together (the default)')
            [CompletionResult]::new('request', 'request', [CompletionResultType]::ParameterValue, 'Requesters (--clients), one request at a time each, with latency percentiles; responders run elsewhere (`bench reply`) or here (--responders)')
            [CompletionResult]::new('reply', 'reply', [CompletionResultType]::ParameterValue, 'Responders (--clients, in one queue group) that echo requests back until --msgs are answered')
            [CompletionResult]::new('churn', 'churn', [CompletionResultType]::ParameterValue, 'Connection churn: --clients workers at a time connect (INFO, CONNECT + PING, PONG) and close, --msgs connections in all, with the connect time''s percentiles')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nats-lite;bench;help;pub' {
            break
        }
        'nats-lite;bench;help;sub' {
            break
        }
        'nats-lite;bench;help;pubsub' {
            break
        }
        'nats-lite;bench;help;request' {
            break
        }
        'nats-lite;bench;help;reply' {
            break
        }
        'nats-lite;bench;help;churn' {
            break
        }
        'nats-lite;bench;help;help' {
            break
        }
        'nats-lite;ping' {
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Number of round trips to time')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Wait between round trips')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for each PONG')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;cat' {
            [CompletionResult]::new('--addr', '--addr', [CompletionResultType]::ParameterName, 'Server address, host[:port] (as catnats spells it; -s also works)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Send CONNECT with this verbose setting (`--verbose` alone means true)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to keep printing after stdin ends')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--raw', '--raw', [CompletionResultType]::ParameterName, 'Send stdin bytes unchanged (binary safe) instead of line by line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Do not print what the server sends')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Do not print what the server sends')
            [CompletionResult]::new('--no-exit', '--no-exit', [CompletionResultType]::ParameterName, 'Keep running after stdin ends (until the server closes or Ctrl-C)')
            [CompletionResult]::new('--pong', '--pong', [CompletionResultType]::ParameterName, 'Answer the server''s PINGs with PONG')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;top' {
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Monitoring host of the NATS server [default: the host of the global -s/--server or NATS_URL if given, else 127.0.0.1]; several as `a,b:8223,c` (each with its own port, -m by default) for a cluster view: one aggregated header and a row per server')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Monitoring host of the NATS server [default: the host of the global -s/--server or NATS_URL if given, else 127.0.0.1]; several as `a,b:8223,c` (each with its own port, -m by default) for a cluster view: one aggregated header and a row per server')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Monitoring (HTTP) port')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Monitoring (HTTP) port')
            [CompletionResult]::new('--https-port', '--https-port', [CompletionResultType]::ParameterName, 'Secure monitoring (HTTPS) port; overrides -m (also `-ms`)')
            [CompletionResult]::new('--ms', '--ms', [CompletionResultType]::ParameterName, 'Secure monitoring (HTTPS) port; overrides -m (also `-ms`)')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificate to verify the HTTPS monitoring port with (also `-cacert`)')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate to verify the HTTPS monitoring port with (also `-cacert`)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Maximum number of connections to poll')
            [CompletionResult]::new('--conns', '--conns', [CompletionResultType]::ParameterName, 'Maximum number of connections to poll')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'Refresh interval in seconds')
            [CompletionResult]::new('--delay', '--delay', [CompletionResultType]::ParameterName, 'Refresh interval in seconds')
            [CompletionResult]::new('--sort', '--sort', [CompletionResultType]::ParameterName, 'Sort connections by this key (also `-sort`)')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Exit after this many refreshes (with -o: write this many snapshots)')
            [CompletionResult]::new('--refresh-count', '--refresh-count', [CompletionResultType]::ParameterName, 'Exit after this many refreshes (with -o: write this many snapshots)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write a snapshot to FILE and exit (`-` for stdout)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write a snapshot to FILE and exit (`-` for stdout)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Delimited output (e.g. `,`) instead of the grid, for -o')
            [CompletionResult]::new('--delimiter', '--delimiter', [CompletionResultType]::ParameterName, 'Delimited output (e.g. `,`) instead of the grid, for -o')
            [CompletionResult]::new('--http-user', '--http-user', [CompletionResultType]::ParameterName, 'User for a monitoring port that requires credentials (`http_auth`)')
            [CompletionResult]::new('--http-password', '--http-password', [CompletionResultType]::ParameterName, 'Password of --http-user')
            [CompletionResult]::new('--http-token', '--http-token', [CompletionResultType]::ParameterName, 'Bearer token for a monitoring port that requires one (`http_auth { token }`)')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify the HTTPS monitoring port''s certificate')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the HTTPS monitoring port''s certificate')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Show traffic in raw bytes and counts instead of K/M/G')
            [CompletionResult]::new('--raw-bytes', '--raw-bytes', [CompletionResultType]::ParameterName, 'Show traffic in raw bytes and counts instead of K/M/G')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Show the SUBSCRIPTIONS column from the start')
            [CompletionResult]::new('--display-subscriptions-column', '--display-subscriptions-column', [CompletionResultType]::ParameterName, 'Show the SUBSCRIPTIONS column from the start')
            [CompletionResult]::new('--lookup', '--lookup', [CompletionResultType]::ParameterName, 'Look up client host names (reverse DNS) (also `-lookup`)')
            [CompletionResult]::new('--discover', '--discover', [CompletionResultType]::ParameterName, 'Find the cluster''s other servers from the one given (its /varz: the monitoring URLs nats-lite servers share, else nats-server''s connect_urls with -m) and show them all, as with -s a,b,c')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;mkpasswd' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'bcrypt cost, 4 to 31: each step doubles the time to hash and to check')
            [CompletionResult]::new('--cost', '--cost', [CompletionResultType]::ParameterName, 'bcrypt cost, 4 to 31: each step doubles the time to hash and to check')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Hash a password you enter instead of generating one (asked twice on a terminal; read from stdin''s first line when stdin is not a terminal)')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Hash a password you enter instead of generating one (asked twice on a terminal; read from stdin''s first line when stdin is not a terminal)')
            [CompletionResult]::new('--stdin', '--stdin', [CompletionResultType]::ParameterName, 'Read the password from stdin''s first line even when stdin is a terminal (implies --pass)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;nkey' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('gen', 'gen', [CompletionResultType]::ParameterValue, 'Generate a key pair: prints the seed, then the public key')
            [CompletionResult]::new('pub', 'pub', [CompletionResultType]::ParameterValue, 'Print the public key of a seed (a seed file, a .creds file, or stdin)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nats-lite;nkey;gen' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'nats-lite;nkey;pub' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;nkey;help' {
            [CompletionResult]::new('gen', 'gen', [CompletionResultType]::ParameterValue, 'Generate a key pair: prints the seed, then the public key')
            [CompletionResult]::new('pub', 'pub', [CompletionResultType]::ParameterValue, 'Print the public key of a seed (a seed file, a .creds file, or stdin)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nats-lite;nkey;help;gen' {
            break
        }
        'nats-lite;nkey;help;pub' {
            break
        }
        'nats-lite;nkey;help;help' {
            break
        }
        'nats-lite;watch-http' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Targets and settings from a file (nats-server config format)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Targets and settings from a file (nats-server config format)')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'HTTP method [default: GET, or POST with --body]')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'HTTP method [default: GET, or POST with --body]')
            [CompletionResult]::new('--body', '--body', [CompletionResultType]::ParameterName, 'Request body')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Request header, as Key:Value (repeatable)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Request header, as Key:Value (repeatable)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Time between checks [default: 10s]')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between checks [default: 10s]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Time allowed for a request, body included [default: 10s]')
            [CompletionResult]::new('--max-time', '--max-time', [CompletionResultType]::ParameterName, 'A slower answer is a fault ("slow 6.2s > 5s")')
            [CompletionResult]::new('--expect-status', '--expect-status', [CompletionResultType]::ParameterName, 'Acceptable HTTP statuses: 200, 200,204, 200-299 [default: 200]')
            [CompletionResult]::new('--json-field', '--json-field', [CompletionResultType]::ParameterName, 'JSON pointer (RFC 6901) to a field of the body, e.g. /status')
            [CompletionResult]::new('--json-ok', '--json-ok', [CompletionResultType]::ParameterName, 'Acceptable value of --json-field, as JSON or text (repeatable: any of them). Without it the field only has to exist')
            [CompletionResult]::new('--contains', '--contains', [CompletionResultType]::ParameterName, 'Text the body must contain')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Trust the CA certificates (PEM) in FILE for HTTPS targets')
            [CompletionResult]::new('--fail-after', '--fail-after', [CompletionResultType]::ParameterName, 'Alert after this many faults in a row [default: 1]')
            [CompletionResult]::new('--remind', '--remind', [CompletionResultType]::ParameterName, 'Alert again this often while a target stays down')
            [CompletionResult]::new('--nats-subject', '--nats-subject', [CompletionResultType]::ParameterName, 'Publish alert events (JSON) on this NATS subject (server from -s)')
            [CompletionResult]::new('--rocketchat', '--rocketchat', [CompletionResultType]::ParameterName, 'Post alerts to this RocketChat server (https://chat.example.com)')
            [CompletionResult]::new('--rc-user', '--rc-user', [CompletionResultType]::ParameterName, 'RocketChat user to log in as')
            [CompletionResult]::new('--rc-password', '--rc-password', [CompletionResultType]::ParameterName, 'RocketChat password')
            [CompletionResult]::new('--rc-token', '--rc-token', [CompletionResultType]::ParameterName, 'RocketChat personal access token (instead of user and password)')
            [CompletionResult]::new('--rc-user-id', '--rc-user-id', [CompletionResultType]::ParameterName, 'The user id that goes with --rc-token')
            [CompletionResult]::new('--rc-channel', '--rc-channel', [CompletionResultType]::ParameterName, 'RocketChat channel (''#ops'') or user (''@someone'')')
            [CompletionResult]::new('--webhook', '--webhook', [CompletionResultType]::ParameterName, 'POST alerts as {"text": ...} to this URL (Slack, Mattermost; repeatable)')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run this shell command for each alert, the event JSON on stdin')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Check once, print the verdicts, exit 0 if all are OK, else 1')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print each check as a JSON line')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify HTTPS certificates of the targets (insecure)')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify HTTPS certificates of the targets (insecure)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;watch-host' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Settings from a file (nats-server config format)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Settings from a file (nats-server config format)')
            [CompletionResult]::new('--window', '--window', [CompletionResultType]::ParameterName, 'With --once: how long file changes are counted [default: 10s]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Time between reports [default: 60s]')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between reports [default: 60s]')
            [CompletionResult]::new('--disk', '--disk', [CompletionResultType]::ParameterName, 'Report the disk usage of this path''s filesystem (repeatable) [default: / and every mounted block device]')
            [CompletionResult]::new('--ignore-extension', '--ignore-extension', [CompletionResultType]::ParameterName, 'Do not count files with this extension, e.g. .swp (repeatable)')
            [CompletionResult]::new('--ignore', '--ignore', [CompletionResultType]::ParameterName, 'Do not count (or watch) what matches GLOB: *.tmp, build/**, logs (repeatable)')
            [CompletionResult]::new('--nats-metrics', '--nats-metrics', [CompletionResultType]::ParameterName, 'Publish each report (JSON) on NATS: --nats-metrics on host.metrics.<hostname>, --nats-metrics=SUBJECT on SUBJECT; the server from -s, with the usual user, token and TLS flags')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Serve the latest report to Prometheus at http://ADDR/metrics (e.g. 127.0.0.1:9101)')
            [CompletionResult]::new('--textfile', '--textfile', [CompletionResultType]::ParameterName, 'Write each report to FILE (a node_exporter textfile, e.g. /var/lib/node_exporter/textfile/watch_host.prom), atomically')
            [CompletionResult]::new('--cw-namespace', '--cw-namespace', [CompletionResultType]::ParameterName, 'CloudWatch namespace of the metrics [default: NatsLite/Host]')
            [CompletionResult]::new('--cw-dimension', '--cw-dimension', [CompletionResultType]::ParameterName, 'A dimension of every metric (repeatable): NAME=VALUE, or InstanceId or Host alone for this instance''s [default: InstanceId (on EC2) and Host]')
            [CompletionResult]::new('--cw-region', '--cw-region', [CompletionResultType]::ParameterName, 'AWS region [default: AWS_REGION, AWS_DEFAULT_REGION, or the instance''s]')
            [CompletionResult]::new('--cw-endpoint', '--cw-endpoint', [CompletionResultType]::ParameterName, 'CloudWatch endpoint URL [default: https://monitoring.REGION.amazonaws.com]')
            [CompletionResult]::new('--cw-metric', '--cw-metric', [CompletionResultType]::ParameterName, 'Send only this metric to CloudWatch (repeatable) [default: all]')
            [CompletionResult]::new('--alert', '--alert', [CompletionResultType]::ParameterName, 'Alert when a figure crosses this threshold: load_per_cpu>0.6, disk_used_percent{path=/}>=90, file_changes_per_second>100 (repeatable)')
            [CompletionResult]::new('--clear', '--clear', [CompletionResultType]::ParameterName, 'Clear the alert on the same metric only past this (lower) threshold: load_per_cpu<0.4 [default: when the alert''s condition no longer holds]')
            [CompletionResult]::new('--nats-subject', '--nats-subject', [CompletionResultType]::ParameterName, 'Publish alert events (JSON) on this NATS subject (server from -s)')
            [CompletionResult]::new('--rocketchat', '--rocketchat', [CompletionResultType]::ParameterName, 'Post alerts to this RocketChat server (https://chat.example.com)')
            [CompletionResult]::new('--rc-user', '--rc-user', [CompletionResultType]::ParameterName, 'RocketChat user to log in as')
            [CompletionResult]::new('--rc-password', '--rc-password', [CompletionResultType]::ParameterName, 'RocketChat password')
            [CompletionResult]::new('--rc-token', '--rc-token', [CompletionResultType]::ParameterName, 'RocketChat personal access token (instead of user and password)')
            [CompletionResult]::new('--rc-user-id', '--rc-user-id', [CompletionResultType]::ParameterName, 'The user id that goes with --rc-token')
            [CompletionResult]::new('--rc-channel', '--rc-channel', [CompletionResultType]::ParameterName, 'RocketChat channel (''#ops'') or user (''@someone'')')
            [CompletionResult]::new('--webhook', '--webhook', [CompletionResultType]::ParameterName, 'POST alerts as {"text": ...} to this URL (Slack, Mattermost; repeatable)')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run this shell command for each alert, the event JSON on stdin')
            [CompletionResult]::new('--procfs', '--procfs', [CompletionResultType]::ParameterName, 'Where the proc filesystem is (Linux: loadavg, meminfo), e.g. the host''s /proc mounted into a container [default: /proc]')
            [CompletionResult]::new('--watch-backend', '--watch-backend', [CompletionResultType]::ParameterName, 'Which notification mechanism counts file changes')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server''s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name, or a token when no password is given [env: NATS_USER]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password [env: NATS_PASSWORD]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Authentication token [env: NATS_TOKEN]')
            [CompletionResult]::new('--creds', '--creds', [CompletionResultType]::ParameterName, 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]')
            [CompletionResult]::new('--nkey', '--nkey', [CompletionResultType]::ParameterName, 'NKey seed file: sign the server''s nonce as an NKey user [env: NATS_NKEY]')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]')
            [CompletionResult]::new('--inbox-prefix', '--inbox-prefix', [CompletionResultType]::ParameterName, 'Reply subjects of requests start with this prefix instead of _INBOX')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate [env: NATS_KEY]')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--tlsca', '--tlsca', [CompletionResultType]::ParameterName, 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]')
            [CompletionResult]::new('--connection-name', '--connection-name', [CompletionResultType]::ParameterName, 'Connection name shown in the server''s monitoring')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Time allowed to connect and for the server to answer a flush [default: 5s]')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Collect one report (file changes over --window) and exit')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print each report as one JSON line')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing on stdout (the other sinks still get every report)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing on stdout (the other sinks still get every report)')
            [CompletionResult]::new('--ignore-dot-directories', '--ignore-dot-directories', [CompletionResultType]::ParameterName, 'Do not count (or watch) anything under a directory whose name starts with a dot')
            [CompletionResult]::new('--cloudwatch', '--cloudwatch', [CompletionResultType]::ParameterName, 'Send each report to CloudWatch (PutMetricData). Credentials from the environment, the shared credentials file or the instance role (IMDSv2)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even if the server does not require it')
            [CompletionResult]::new('--tlsfirst', '--tlsfirst', [CompletionResultType]::ParameterName, 'Start TLS before the server''s INFO (servers with handshake_first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (insecure: testing only)')
            [CompletionResult]::new('--no-randomize', '--no-randomize', [CompletionResultType]::ParameterName, 'Try the servers of a list in the order given, not in random order')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit when the connection is lost instead of reconnecting (sub, reply)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;completions' {
            [CompletionResult]::new('--man', '--man', [CompletionResultType]::ParameterName, 'Write the man pages (nats-lite.1 and one nats-lite-SUBCOMMAND.1 per subcommand) into DIR')
            [CompletionResult]::new('--write-all', '--write-all', [CompletionResultType]::ParameterName, 'Write every completion script into DIR/completions and every man page into DIR/man (`.` in a checkout regenerates the files kept in git)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;server' {
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Bind to host address')
            [CompletionResult]::new('--addr', '--addr', [CompletionResultType]::ParameterName, 'Bind to host address')
            [CompletionResult]::new('--net', '--net', [CompletionResultType]::ParameterName, 'Bind to host address')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Use port for clients (-1 or 0 picks a free port; the log says which)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Use port for clients (-1 or 0 picks a free port; the log says which)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Server name (default: the server ID)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Server name (default: the server ID)')
            [CompletionResult]::new('--server_name', '--server_name', [CompletionResultType]::ParameterName, 'Server name (default: the server ID)')
            [CompletionResult]::new('-P', '-P ', [CompletionResultType]::ParameterName, 'File to store the process ID')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'File to store the process ID')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Use port for HTTP monitoring (-1 or 0 picks a free port; the log says which)')
            [CompletionResult]::new('--http_port', '--http_port', [CompletionResultType]::ParameterName, 'Use port for HTTP monitoring (-1 or 0 picks a free port; the log says which)')
            [CompletionResult]::new('--https_port', '--https_port', [CompletionResultType]::ParameterName, 'Use port for HTTPS monitoring (also `-ms`)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Configuration file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file')
            [CompletionResult]::new('--signal', '--signal', [CompletionResultType]::ParameterName, 'Send a signal to a running server: ldm, stop, quit, term, reopen, reload (`CMD=PID` or `CMD=PIDFILE` picks the process; also `-sl`)')
            [CompletionResult]::new('--ports_file_dir', '--ports_file_dir', [CompletionResultType]::ParameterName, 'Directory where a `<exe>_<pid>.ports` file with the bound ports is written')
            [CompletionResult]::new('--client_advertise', '--client_advertise', [CompletionResultType]::ParameterName, 'Client URL to advertise to other servers')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'File to redirect log output')
            [CompletionResult]::new('--log', '--log', [CompletionResultType]::ParameterName, 'File to redirect log output')
            [CompletionResult]::new('--log_file', '--log_file', [CompletionResultType]::ParameterName, 'File to redirect log output')
            [CompletionResult]::new('--log_size_limit', '--log_size_limit', [CompletionResultType]::ParameterName, 'Logfile size limit (rotate when exceeded)')
            [CompletionResult]::new('-T', '-T ', [CompletionResultType]::ParameterName, 'Timestamp log entries (default true; -T=false turns them off)')
            [CompletionResult]::new('--logtime', '--logtime', [CompletionResultType]::ParameterName, 'Timestamp log entries (default true; -T=false turns them off)')
            [CompletionResult]::new('--log_format', '--log_format', [CompletionResultType]::ParameterName, 'Log line format: `text` (nats-server''s) or `json` (one object a line)')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Syslog server address (udp://localhost:514)')
            [CompletionResult]::new('--remote_syslog', '--remote_syslog', [CompletionResultType]::ParameterName, 'Syslog server address (udp://localhost:514)')
            [CompletionResult]::new('--max_traced_msg_len', '--max_traced_msg_len', [CompletionResultType]::ParameterName, 'Maximum printable length of traced messages (0 for unlimited)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User required for connections')
            [CompletionResult]::new('--pass', '--pass', [CompletionResultType]::ParameterName, 'Password required for connections')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'Authorization token required for connections')
            [CompletionResult]::new('--tlscert', '--tlscert', [CompletionResultType]::ParameterName, 'Server certificate file')
            [CompletionResult]::new('--tlskey', '--tlskey', [CompletionResultType]::ParameterName, 'Private key for server certificate')
            [CompletionResult]::new('--tlscacert', '--tlscacert', [CompletionResultType]::ParameterName, 'Client certificate CA for verification')
            [CompletionResult]::new('--routes', '--routes', [CompletionResultType]::ParameterName, 'Routes to solicit and connect')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'Cluster URL for solicited routes')
            [CompletionResult]::new('--cluster_listen', '--cluster_listen', [CompletionResultType]::ParameterName, 'Cluster URL for solicited routes')
            [CompletionResult]::new('--cluster_name', '--cluster_name', [CompletionResultType]::ParameterName, 'Cluster name (default: a dynamic name agreed with the peers)')
            [CompletionResult]::new('--cluster_advertise', '--cluster_advertise', [CompletionResultType]::ParameterName, 'Cluster URL to advertise to other servers')
            [CompletionResult]::new('--connect_retries', '--connect_retries', [CompletionResultType]::ParameterName, 'For implicit routes, number of connect retries')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profiling HTTP port (not supported by nats-lite; accepted and ignored with a warning)')
            [CompletionResult]::new('--store_dir', '--store_dir', [CompletionResultType]::ParameterName, 'JetStream storage directory (not supported; also `-sd`)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Test the configuration file and exit')
            [CompletionResult]::new('--logtime_utc', '--logtime_utc', [CompletionResultType]::ParameterName, 'Timestamps in UTC instead of local time')
            [CompletionResult]::new('-D', '-D ', [CompletionResultType]::ParameterName, 'Enable debugging output')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Enable debugging output')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Trace the raw protocol (-VV also traces the system account)')
            [CompletionResult]::new('--trace', '--trace', [CompletionResultType]::ParameterName, 'Trace the raw protocol (-VV also traces the system account)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Log to syslog or windows event log')
            [CompletionResult]::new('--syslog', '--syslog', [CompletionResultType]::ParameterName, 'Log to syslog or windows event log')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Enable TLS, do not verify clients (default: false)')
            [CompletionResult]::new('--tlsverify', '--tlsverify', [CompletionResultType]::ParameterName, 'Enable TLS, verify client certificates')
            [CompletionResult]::new('--no_advertise', '--no_advertise', [CompletionResultType]::ParameterName, 'Do not advertise known cluster information to clients')
            [CompletionResult]::new('--jetstream', '--jetstream', [CompletionResultType]::ParameterName, 'Enable JetStream (not supported by nats-lite; a warning is logged; also `-js`)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show the version and exit')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Show the version and exit')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nats-lite;help' {
            [CompletionResult]::new('pub', 'pub', [CompletionResultType]::ParameterValue, 'Publish a message')
            [CompletionResult]::new('sub', 'sub', [CompletionResultType]::ParameterValue, 'Subscribe to subjects and print what arrives')
            [CompletionResult]::new('req', 'req', [CompletionResultType]::ParameterValue, 'Send a request and wait for the reply')
            [CompletionResult]::new('reply', 'reply', [CompletionResultType]::ParameterValue, 'Answer requests on a subject')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Measure a server: publishers, subscribers, request/reply latency (like `nats bench`)')
            [CompletionResult]::new('ping', 'ping', [CompletionResultType]::ParameterValue, 'Check a server: connect, show its INFO, time PING/PONG round trips')
            [CompletionResult]::new('cat', 'cat', [CompletionResultType]::ParameterValue, 'Pipe stdin to a server as raw protocol and its output to stdout (like catnats)')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'A live view of a server''s statistics (like nats-top)')
            [CompletionResult]::new('mkpasswd', 'mkpasswd', [CompletionResultType]::ParameterValue, 'Generate a bcrypt hash of a password for a config file')
            [CompletionResult]::new('nkey', 'nkey', [CompletionResultType]::ParameterValue, 'Generate NKeys (seed and public key) and print the public key of a seed')
            [CompletionResult]::new('watch-http', 'watch-http', [CompletionResultType]::ParameterValue, 'Watch HTTP endpoints and alert when their health changes')
            [CompletionResult]::new('watch-host', 'watch-host', [CompletionResultType]::ParameterValue, 'Report load, memory, disk usage and file changes to stdout, NATS, Prometheus, CloudWatch')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions (bash, zsh, fish, powershell, elvish) or write man pages')
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'Run a NATS-protocol broker (flags as nats-server''s)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nats-lite;help;pub' {
            break
        }
        'nats-lite;help;sub' {
            break
        }
        'nats-lite;help;req' {
            break
        }
        'nats-lite;help;reply' {
            break
        }
        'nats-lite;help;bench' {
            [CompletionResult]::new('pub', 'pub', [CompletionResultType]::ParameterValue, 'Publishers only (--clients of them)')
            [CompletionResult]::new('sub', 'sub', [CompletionResultType]::ParameterValue, 'Subscribers only (--clients of them), each waiting for --msgs messages published by something else')
            [CompletionResult]::new('pubsub', 'pubsub', [CompletionResultType]::ParameterValue, 'Publishers (--clients) and subscribers (--subs) together (the default)')
            [CompletionResult]::new('request', 'request', [CompletionResultType]::ParameterValue, 'Requesters (--clients), one request at a time each, with latency percentiles; responders run elsewhere (`bench reply`) or here (--responders)')
            [CompletionResult]::new('reply', 'reply', [CompletionResultType]::ParameterValue, 'Responders (--clients, in one queue group) that echo requests back until --msgs are answered')
            [CompletionResult]::new('churn', 'churn', [CompletionResultType]::ParameterValue, 'Connection churn: --clients workers at a time connect (INFO, CONNECT + PING, PONG) and close, --msgs connections in all, with the connect time''s percentiles')
            break
        }
        'nats-lite;help;bench;pub' {
            break
        }
        'nats-lite;help;bench;sub' {
            break
        }
        'nats-lite;help;bench;pubsub' {
            break
        }
        'nats-lite;help;bench;request' {
            break
        }
        'nats-lite;help;bench;reply' {
            break
        }
        'nats-lite;help;bench;churn' {
            break
        }
        'nats-lite;help;ping' {
            break
        }
        'nats-lite;help;cat' {
            break
        }
        'nats-lite;help;top' {
            break
        }
        'nats-lite;help;mkpasswd' {
            break
        }
        'nats-lite;help;nkey' {
            [CompletionResult]::new('gen', 'gen', [CompletionResultType]::ParameterValue, 'Generate a key pair: prints the seed, then the public key')
            [CompletionResult]::new('pub', 'pub', [CompletionResultType]::ParameterValue, 'Print the public key of a seed (a seed file, a .creds file, or stdin)')
            break
        }
        'nats-lite;help;nkey;gen' {
            break
        }
        'nats-lite;help;nkey;pub' {
            break
        }
        'nats-lite;help;watch-http' {
            break
        }
        'nats-lite;help;watch-host' {
            break
        }
        'nats-lite;help;completions' {
            break
        }
        'nats-lite;help;server' {
            break
        }
        'nats-lite;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
