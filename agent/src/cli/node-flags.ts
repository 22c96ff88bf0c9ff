/**
 * V8 flags the agent runs with: the launcher's shebang (agent/bin/edgeml-agent.js) and the
 * systemd unit install-service writes both pass them. Under load V8 grows each young-generation
 * semi-space to 16 MB and keeps the pages, which was most of the agent's RSS growth; capped at
 * 1 MB, scavenges run more often on a heap that is mostly long-lived anyway. V8 reads these at
 * start-up only (v8.setFlagsFromString afterwards does not resize the heap), hence the shebang.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
