# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_nats_lite_global_optspecs
    string join \n v/version s/server= user= password= token= creds= nkey= context= inbox-prefix= tls tlsfirst tlscert= tlskey= tlscacert= tls-insecure no-randomize no-reconnect connection-name= connect-timeout= h/help
end

function __fish_nats_lite_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_nats_lite_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_nats_lite_using_subcommand
    set -l cmd (__fish_nats_lite_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c nats-lite -n "__fish_nats_lite_needs_command" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_needs_command" -s v -l version -d 'Show the version and exit (`-v` as nats-server; `-V` is its trace flag)'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "pub" -d 'Publish a message'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "sub" -d 'Subscribe to subjects and print what arrives'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "req" -d 'Send a request and wait for the reply'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "reply" -d 'Answer requests on a subject'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "bench" -d 'Measure a server: publishers, subscribers, request/reply latency (like `nats bench`)'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "ping" -d 'Check a server: connect, show its INFO, time PING/PONG round trips'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "cat" -d 'Pipe stdin to a server as raw protocol and its output to stdout (like catnats)'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "top" -d 'A live view of a server\'s statistics (like nats-top)'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "mkpasswd" -d 'Generate a bcrypt hash of a password for a config file'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "nkey" -d 'Generate NKeys (seed and public key) and print the public key of a seed'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "watch-http" -d 'Watch HTTP endpoints and alert when their health changes'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "watch-host" -d 'Report load, memory, disk usage and file changes to stdout, NATS, Prometheus, CloudWatch'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, powershell, elvish) or write man pages'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "server" -d 'Run a NATS-protocol broker (flags as nats-server\'s)'
complete -c nats-lite -n "__fish_nats_lite_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l count -d 'Publish this many messages ({{Count}} goes from 1 to N)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l sleep -d 'Wait this long between messages (e.g. 100ms, 1s)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -s H -l header -d 'Header to add, as Key:Value (repeatable)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l reply -d 'Reply subject to send with the message' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l trace-wait -d 'With --trace: how long to collect trace events' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l lines -d 'One message per stdin line, sent as lines arrive (for `tail -f | ...`)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -s q -l quiet -d 'Do not log what was published'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l trace -d 'Trace the message: each server it crosses (nats-lite, nats-server 2.11+) reports how it came in and where it went; print the trace'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l trace-only -d 'With --trace: trace without delivering to subscribers (Nats-Trace-Only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l json -d 'With --trace: print the trace events as JSON, one per line'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand pub" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l queue -d 'Join this queue group (each message goes to one member)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l count -d 'Exit 0 after this many messages' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l timeout -d 'Stop when no message arrives for this long (see below)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -s r -l raw -d 'Print bodies only, one per line'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l json -d 'Print one JSON object per message: subject, reply, headers, data'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l base64 -d 'With --json: data as base64 (for binary payloads)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand sub" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l timeout -d 'How long to wait for replies' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -s H -l header -d 'Header to add, as Key:Value (repeatable)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l replies -d 'Wait for this many replies (0: all that arrive before --timeout)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l trace-wait -d 'With --trace: how long to collect trace events' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -s r -l raw -d 'Print reply bodies only, nothing on stderr'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l trace -d 'Trace the message: each server it crosses (nats-lite, nats-server 2.11+) reports how it came in and where it went; print the trace'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l trace-only -d 'With --trace: trace without delivering to subscribers (Nats-Trace-Only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l json -d 'With --trace: print the trace events as JSON, one per line'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand req" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l queue -d 'Queue group, so that several repliers share the requests' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l command -d 'Reply with the stdout of this shell command (request body on its stdin)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l count -d 'Exit 0 after answering this many requests' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -s H -l header -d 'Header to add to replies, as Key:Value (repeatable; templates allowed)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l echo -d 'Reply with the request\'s body and headers'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -s q -l quiet -d 'Do not log each request'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand reply" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l clients -d 'Clients of the mode\'s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l subs -d 'Subscribers, in pubsub mode (0: publishers only)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l responders -d 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l msgs -d 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l size -d 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l timeout -d 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l csv -d 'Write one CSV row per client to FILE (nats-bench\'s columns)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l subject-per-publisher -d 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher\'s rate is reported)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l no-progress -d 'No progress bar (it is shown on a terminal only, for runs over half a second)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -a "pub" -d 'Publishers only (--clients of them)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -a "sub" -d 'Subscribers only (--clients of them), each waiting for --msgs messages published by something else'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -a "pubsub" -d 'Publishers (--clients) and subscribers (--subs) together (the default)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -a "request" -d 'Requesters (--clients), one request at a time each, with latency percentiles; responders run elsewhere (`bench reply`) or here (--responders)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -a "reply" -d 'Responders (--clients, in one queue group) that echo requests back until --msgs are answered'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -a "churn" -d 'Connection churn: --clients workers at a time connect (INFO, CONNECT + PING, PONG) and close, --msgs connections in all, with the connect time\'s percentiles'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and not __fish_seen_subcommand_from pub sub pubsub request reply churn help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l clients -d 'Clients of the mode\'s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l subs -d 'Subscribers, in pubsub mode (0: publishers only)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l responders -d 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l msgs -d 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l size -d 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l timeout -d 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l csv -d 'Write one CSV row per client to FILE (nats-bench\'s columns)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l subject-per-publisher -d 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher\'s rate is reported)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l no-progress -d 'No progress bar (it is shown on a terminal only, for runs over half a second)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pub" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l clients -d 'Clients of the mode\'s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l subs -d 'Subscribers, in pubsub mode (0: publishers only)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l responders -d 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l msgs -d 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l size -d 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l timeout -d 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l csv -d 'Write one CSV row per client to FILE (nats-bench\'s columns)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l subject-per-publisher -d 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher\'s rate is reported)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l no-progress -d 'No progress bar (it is shown on a terminal only, for runs over half a second)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from sub" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l clients -d 'Clients of the mode\'s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l subs -d 'Subscribers, in pubsub mode (0: publishers only)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l responders -d 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l msgs -d 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l size -d 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l timeout -d 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l csv -d 'Write one CSV row per client to FILE (nats-bench\'s columns)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l subject-per-publisher -d 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher\'s rate is reported)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l no-progress -d 'No progress bar (it is shown on a terminal only, for runs over half a second)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from pubsub" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l clients -d 'Clients of the mode\'s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l subs -d 'Subscribers, in pubsub mode (0: publishers only)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l responders -d 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l msgs -d 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l size -d 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l timeout -d 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l csv -d 'Write one CSV row per client to FILE (nats-bench\'s columns)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l subject-per-publisher -d 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher\'s rate is reported)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l no-progress -d 'No progress bar (it is shown on a terminal only, for runs over half a second)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from request" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l clients -d 'Clients of the mode\'s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l subs -d 'Subscribers, in pubsub mode (0: publishers only)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l responders -d 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l msgs -d 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l size -d 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l timeout -d 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l csv -d 'Write one CSV row per client to FILE (nats-bench\'s columns)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l subject-per-publisher -d 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher\'s rate is reported)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l no-progress -d 'No progress bar (it is shown on a terminal only, for runs over half a second)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from reply" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l clients -d 'Clients of the mode\'s kind: publishers (pub, pubsub), subscribers (sub), requesters (request) or responders (reply)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l subs -d 'Subscribers, in pubsub mode (0: publishers only)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l responders -d 'Responders to start in this process, in request mode (0: they run elsewhere, e.g. `nats-lite bench reply`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l msgs -d 'Messages (or requests) in all, shared by the publishers (or requesters); each subscriber expects all of them' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l size -d 'Payload size: bytes, or with a unit: 128B, 1KB, 1KiB, 2MB (all units are multiples of 1024)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l timeout -d 'Give up when nothing arrives for this long (subscribers, requesters, responders after their first request) and bound the final flush' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l csv -d 'Write one CSV row per client to FILE (nats-bench\'s columns)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l subject-per-publisher -d 'Publisher N (from 1) publishes to SUBJECT.N and subscribers listen on SUBJECT.* (many publishers into one wildcard subscriber; each publisher\'s rate is reported)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l no-progress -d 'No progress bar (it is shown on a terminal only, for runs over half a second)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from churn" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "pub" -d 'Publishers only (--clients of them)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "sub" -d 'Subscribers only (--clients of them), each waiting for --msgs messages published by something else'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "pubsub" -d 'Publishers (--clients) and subscribers (--subs) together (the default)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "request" -d 'Requesters (--clients), one request at a time each, with latency percentiles; responders run elsewhere (`bench reply`) or here (--responders)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "reply" -d 'Responders (--clients, in one queue group) that echo requests back until --msgs are answered'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "churn" -d 'Connection churn: --clients workers at a time connect (INFO, CONNECT + PING, PONG) and close, --msgs connections in all, with the connect time\'s percentiles'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l count -d 'Number of round trips to time' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l interval -d 'Wait between round trips' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l timeout -d 'How long to wait for each PONG' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand ping" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l addr -d 'Server address, host[:port] (as catnats spells it; -s also works)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l verbose -d 'Send CONNECT with this verbose setting (`--verbose` alone means true)' -r -f -a "true\t''
false\t''"
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l wait -d 'How long to keep printing after stdin ends' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l raw -d 'Send stdin bytes unchanged (binary safe) instead of line by line'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -s q -l quiet -d 'Do not print what the server sends'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l no-exit -d 'Keep running after stdin ends (until the server closes or Ctrl-C)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l pong -d 'Answer the server\'s PINGs with PONG'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand cat" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s s -l host -d 'Monitoring host of the NATS server [default: the host of the global -s/--server or NATS_URL if given, else 127.0.0.1]; several as `a,b:8223,c` (each with its own port, -m by default) for a cluster view: one aggregated header and a row per server' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s m -l port -d 'Monitoring (HTTP) port' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -l https-port -l ms -d 'Secure monitoring (HTTPS) port; overrides -m (also `-ms`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -l tlscacert -l cacert -d 'CA certificate to verify the HTTPS monitoring port with (also `-cacert`)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s n -l conns -d 'Maximum number of connections to poll' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s d -l delay -d 'Refresh interval in seconds' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -l sort -d 'Sort connections by this key (also `-sort`)' -r -f -a "cid\t''
start\t''
subs\t''
pending\t''
msgs_to\t''
msgs_from\t''
bytes_to\t''
bytes_from\t''
last\t''
idle\t''
uptime\t''
rtt\t''"
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s r -l refresh-count -d 'Exit after this many refreshes (with -o: write this many snapshots)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s o -l output -d 'Write a snapshot to FILE and exit (`-` for stdout)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s l -l delimiter -d 'Delimited output (e.g. `,`) instead of the grid, for -o' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -l http-user -d 'User for a monitoring port that requires credentials (`http_auth`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -l http-password -d 'Password of --http-user' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -l http-token -d 'Bearer token for a monitoring port that requires one (`http_auth { token }`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s k -l tls-insecure -d 'Do not verify the HTTPS monitoring port\'s certificate'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s b -l raw-bytes -d 'Show traffic in raw bytes and counts instead of K/M/G'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s u -l display-subscriptions-column -d 'Show the SUBSCRIPTIONS column from the start'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -l lookup -d 'Look up client host names (reverse DNS) (also `-lookup`)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -l discover -d 'Find the cluster\'s other servers from the one given (its /varz: the monitoring URLs nats-lite servers share, else nats-server\'s connect_urls with -m) and show them all, as with -s a,b,c'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand top" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand mkpasswd" -s c -l cost -d 'bcrypt cost, 4 to 31: each step doubles the time to hash and to check' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand mkpasswd" -s p -l pass -d 'Hash a password you enter instead of generating one (asked twice on a terminal; read from stdin\'s first line when stdin is not a terminal)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand mkpasswd" -l stdin -d 'Read the password from stdin\'s first line even when stdin is a terminal (implies --pass)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand mkpasswd" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand nkey; and not __fish_seen_subcommand_from gen pub help" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand nkey; and not __fish_seen_subcommand_from gen pub help" -f -a "gen" -d 'Generate a key pair: prints the seed, then the public key'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand nkey; and not __fish_seen_subcommand_from gen pub help" -f -a "pub" -d 'Print the public key of a seed (a seed file, a .creds file, or stdin)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand nkey; and not __fish_seen_subcommand_from gen pub help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand nkey; and __fish_seen_subcommand_from gen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand nkey; and __fish_seen_subcommand_from pub" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand nkey; and __fish_seen_subcommand_from help" -f -a "gen" -d 'Generate a key pair: prints the seed, then the public key'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand nkey; and __fish_seen_subcommand_from help" -f -a "pub" -d 'Print the public key of a seed (a seed file, a .creds file, or stdin)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand nkey; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -s c -l config -d 'Targets and settings from a file (nats-server config format)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -s X -l method -d 'HTTP method [default: GET, or POST with --body]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l body -d 'Request body' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -s H -l header -d 'Request header, as Key:Value (repeatable)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -s i -l interval -d 'Time between checks [default: 10s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l timeout -d 'Time allowed for a request, body included [default: 10s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l max-time -d 'A slower answer is a fault ("slow 6.2s > 5s")' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l expect-status -d 'Acceptable HTTP statuses: 200, 200,204, 200-299 [default: 200]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l json-field -d 'JSON pointer (RFC 6901) to a field of the body, e.g. /status' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l json-ok -d 'Acceptable value of --json-field, as JSON or text (repeatable: any of them). Without it the field only has to exist' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l contains -d 'Text the body must contain' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l cacert -d 'Trust the CA certificates (PEM) in FILE for HTTPS targets' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l fail-after -d 'Alert after this many faults in a row [default: 1]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l remind -d 'Alert again this often while a target stays down' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l nats-subject -d 'Publish alert events (JSON) on this NATS subject (server from -s)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l rocketchat -d 'Post alerts to this RocketChat server (https://chat.example.com)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l rc-user -d 'RocketChat user to log in as' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l rc-password -d 'RocketChat password' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l rc-token -d 'RocketChat personal access token (instead of user and password)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l rc-user-id -d 'The user id that goes with --rc-token' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l rc-channel -d 'RocketChat channel (\'#ops\') or user (\'@someone\')' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l webhook -d 'POST alerts as {"text": ...} to this URL (Slack, Mattermost; repeatable)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l exec -d 'Run this shell command for each alert, the event JSON on stdin' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l once -d 'Check once, print the verdicts, exit 0 if all are OK, else 1'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l json -d 'Print each check as a JSON line'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -s k -l insecure -d 'Do not verify HTTPS certificates of the targets (insecure)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-http" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -s c -l config -d 'Settings from a file (nats-server config format)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l window -d 'With --once: how long file changes are counted [default: 10s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -s i -l interval -d 'Time between reports [default: 60s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l disk -d 'Report the disk usage of this path\'s filesystem (repeatable) [default: / and every mounted block device]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l ignore-extension -d 'Do not count files with this extension, e.g. .swp (repeatable)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l ignore -d 'Do not count (or watch) what matches GLOB: *.tmp, build/**, logs (repeatable)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l nats-metrics -d 'Publish each report (JSON) on NATS: --nats-metrics on host.metrics.<hostname>, --nats-metrics=SUBJECT on SUBJECT; the server from -s, with the usual user, token and TLS flags' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l listen -d 'Serve the latest report to Prometheus at http://ADDR/metrics (e.g. 127.0.0.1:9101)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l textfile -d 'Write each report to FILE (a node_exporter textfile, e.g. /var/lib/node_exporter/textfile/watch_host.prom), atomically' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l cw-namespace -d 'CloudWatch namespace of the metrics [default: NatsLite/Host]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l cw-dimension -d 'A dimension of every metric (repeatable): NAME=VALUE, or InstanceId or Host alone for this instance\'s [default: InstanceId (on EC2) and Host]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l cw-region -d 'AWS region [default: AWS_REGION, AWS_DEFAULT_REGION, or the instance\'s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l cw-endpoint -d 'CloudWatch endpoint URL [default: https://monitoring.REGION.amazonaws.com]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l cw-metric -d 'Send only this metric to CloudWatch (repeatable) [default: all]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l alert -d 'Alert when a figure crosses this threshold: load_per_cpu>0.6, disk_used_percent{path=/}>=90, file_changes_per_second>100 (repeatable)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l clear -d 'Clear the alert on the same metric only past this (lower) threshold: load_per_cpu<0.4 [default: when the alert\'s condition no longer holds]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l nats-subject -d 'Publish alert events (JSON) on this NATS subject (server from -s)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l rocketchat -d 'Post alerts to this RocketChat server (https://chat.example.com)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l rc-user -d 'RocketChat user to log in as' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l rc-password -d 'RocketChat password' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l rc-token -d 'RocketChat personal access token (instead of user and password)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l rc-user-id -d 'The user id that goes with --rc-token' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l rc-channel -d 'RocketChat channel (\'#ops\') or user (\'@someone\')' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l webhook -d 'POST alerts as {"text": ...} to this URL (Slack, Mattermost; repeatable)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l exec -d 'Run this shell command for each alert, the event JSON on stdin' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l procfs -d 'Where the proc filesystem is (Linux: loadavg, meminfo), e.g. the host\'s /proc mounted into a container [default: /proc]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l watch-backend -d 'Which notification mechanism counts file changes' -r -f -a "native\t'inotify on Linux, the notify crate elsewhere'
notify\t'The notify crate on every platform'"
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -s s -l server -d 'Server URL(s), comma separated: nats://host:port, tls://host:port, ws://host:port, wss://host:port (a server\'s websocket listener), host:port, nats://user:pass@host, nats://token@host [env: NATS_URL] [default: nats://127.0.0.1:4222]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l user -d 'User name, or a token when no password is given [env: NATS_USER]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l password -l pass -d 'Password [env: NATS_PASSWORD]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l token -d 'Authentication token [env: NATS_TOKEN]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l creds -d 'User credentials file (a user JWT and its NKey seed, as nsc writes it) [env: NATS_CREDS]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l nkey -d 'NKey seed file: sign the server\'s nonce as an NKey user [env: NATS_NKEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l context -d 'The nats CLI context to use (~/.config/nats/context/NAME.json) instead of the one selected in context.txt [env: NATS_CONTEXT]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l inbox-prefix -d 'Reply subjects of requests start with this prefix instead of _INBOX' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l tlscert -d 'Client certificate (PEM) for servers that verify clients [env: NATS_CERT]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l tlskey -d 'Private key (PEM) of the client certificate [env: NATS_KEY]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l tlscacert -l tlsca -d 'CA certificates (PEM) to trust instead of the built-in web roots [env: NATS_CA]' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l connection-name -d 'Connection name shown in the server\'s monitoring' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l connect-timeout -d 'Time allowed to connect and for the server to answer a flush [default: 5s]' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l once -d 'Collect one report (file changes over --window) and exit'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l json -d 'Print each report as one JSON line'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -s q -l quiet -d 'Print nothing on stdout (the other sinks still get every report)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l ignore-dot-directories -d 'Do not count (or watch) anything under a directory whose name starts with a dot'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l cloudwatch -d 'Send each report to CloudWatch (PutMetricData). Credentials from the environment, the shared credentials file or the instance role (IMDSv2)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l tls -d 'Use TLS even if the server does not require it'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l tlsfirst -d 'Start TLS before the server\'s INFO (servers with handshake_first)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l tls-insecure -d 'Do not verify the server\'s certificate (insecure: testing only)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l no-randomize -d 'Try the servers of a list in the order given, not in random order'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -l no-reconnect -d 'Exit when the connection is lost instead of reconnecting (sub, reply)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand watch-host" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand completions" -l man -d 'Write the man pages (nats-lite.1 and one nats-lite-SUBCOMMAND.1 per subcommand) into DIR' -r -f -a "(__fish_complete_directories)"
complete -c nats-lite -n "__fish_nats_lite_using_subcommand completions" -l write-all -d 'Write every completion script into DIR/completions and every man page into DIR/man (`.` in a checkout regenerates the files kept in git)' -r -f -a "(__fish_complete_directories)"
complete -c nats-lite -n "__fish_nats_lite_using_subcommand completions" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s a -l addr -l net -d 'Bind to host address' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s p -l port -d 'Use port for clients (-1 or 0 picks a free port; the log says which)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s n -l name -l server_name -d 'Server name (default: the server ID)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s P -l pid -d 'File to store the process ID' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s m -l http_port -d 'Use port for HTTP monitoring (-1 or 0 picks a free port; the log says which)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l https_port -d 'Use port for HTTPS monitoring (also `-ms`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s c -l config -d 'Configuration file' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l signal -d 'Send a signal to a running server: ldm, stop, quit, term, reopen, reload (`CMD=PID` or `CMD=PIDFILE` picks the process; also `-sl`)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l ports_file_dir -d 'Directory where a `<exe>_<pid>.ports` file with the bound ports is written' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l client_advertise -d 'Client URL to advertise to other servers' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s l -l log -l log_file -d 'File to redirect log output' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l log_size_limit -d 'Logfile size limit (rotate when exceeded)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s T -l logtime -d 'Timestamp log entries (default true; -T=false turns them off)' -r -f -a "true\t''
false\t''"
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l log_format -d 'Log line format: `text` (nats-server\'s) or `json` (one object a line)' -r -f -a "text\t''
json\t''"
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s r -l remote_syslog -d 'Syslog server address (udp://localhost:514)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l max_traced_msg_len -d 'Maximum printable length of traced messages (0 for unlimited)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l user -d 'User required for connections' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l pass -d 'Password required for connections' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l auth -d 'Authorization token required for connections' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l tlscert -d 'Server certificate file' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l tlskey -d 'Private key for server certificate' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l tlscacert -d 'Client certificate CA for verification' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l routes -d 'Routes to solicit and connect' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l cluster -l cluster_listen -d 'Cluster URL for solicited routes' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l cluster_name -d 'Cluster name (default: a dynamic name agreed with the peers)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l cluster_advertise -d 'Cluster URL to advertise to other servers' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l connect_retries -d 'For implicit routes, number of connect retries' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l profile -d 'Profiling HTTP port (not supported by nats-lite; accepted and ignored with a warning)' -r
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l store_dir -d 'JetStream storage directory (not supported; also `-sd`)' -r -F
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s t -d 'Test the configuration file and exit'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l logtime_utc -d 'Timestamps in UTC instead of local time'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s D -l debug -d 'Enable debugging output'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s V -l trace -d 'Trace the raw protocol (-VV also traces the system account)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s s -l syslog -d 'Log to syslog or windows event log'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l tls -d 'Enable TLS, do not verify clients (default: false)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l tlsverify -d 'Enable TLS, verify client certificates'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l no_advertise -d 'Do not advertise known cluster information to clients'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -l jetstream -d 'Enable JetStream (not supported by nats-lite; a warning is logged; also `-js`)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s v -l version -d 'Show the version and exit'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand server" -s h -l help -d 'Print help'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "pub" -d 'Publish a message'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "sub" -d 'Subscribe to subjects and print what arrives'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "req" -d 'Send a request and wait for the reply'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "reply" -d 'Answer requests on a subject'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "bench" -d 'Measure a server: publishers, subscribers, request/reply latency (like `nats bench`)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "ping" -d 'Check a server: connect, show its INFO, time PING/PONG round trips'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "cat" -d 'Pipe stdin to a server as raw protocol and its output to stdout (like catnats)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "top" -d 'A live view of a server\'s statistics (like nats-top)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "mkpasswd" -d 'Generate a bcrypt hash of a password for a config file'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "nkey" -d 'Generate NKeys (seed and public key) and print the public key of a seed'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "watch-http" -d 'Watch HTTP endpoints and alert when their health changes'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "watch-host" -d 'Report load, memory, disk usage and file changes to stdout, NATS, Prometheus, CloudWatch'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, powershell, elvish) or write man pages'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "server" -d 'Run a NATS-protocol broker (flags as nats-server\'s)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and not __fish_seen_subcommand_from pub sub req reply bench ping cat top mkpasswd nkey watch-http watch-host completions server help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "pub" -d 'Publishers only (--clients of them)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "sub" -d 'Subscribers only (--clients of them), each waiting for --msgs messages published by something else'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "pubsub" -d 'Publishers (--clients) and subscribers (--subs) together (the default)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "request" -d 'Requesters (--clients), one request at a time each, with latency percentiles; responders run elsewhere (`bench reply`) or here (--responders)'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "reply" -d 'Responders (--clients, in one queue group) that echo requests back until --msgs are answered'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "churn" -d 'Connection churn: --clients workers at a time connect (INFO, CONNECT + PING, PONG) and close, --msgs connections in all, with the connect time\'s percentiles'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and __fish_seen_subcommand_from nkey" -f -a "gen" -d 'Generate a key pair: prints the seed, then the public key'
complete -c nats-lite -n "__fish_nats_lite_using_subcommand help; and __fish_seen_subcommand_from nkey" -f -a "pub" -d 'Print the public key of a seed (a seed file, a .creds file, or stdin)'
