"""Conversations' view of agents, kept from `events.agents.agent.*`: who answers, with which
model, personality and languages (API keys are fetched when needed, never stored here).

- `view.py`: the reads (the agent a request names, whether it can answer now);
- `handlers.py`: the projection's writes, from an event or the agents service's answer;
- `subscribers.py`: the consumer of the agent events, as main.py's spec lists it.

Read-your-writes: a request naming an agent the projection has not seen (created a moment
ago) or holds as deleted or unable to answer asks the agents service (`owner`, an
`OwnerFallback` on `app.state.agents`) and applies its answer like the event before answering
(docs/architecture.md).
"""
