"""A RabbitMQ cluster for real (issue 17): three nodes of our own on this machine behind one TCP front
(what the Kubernetes Service is to the cluster), the four services on it and on a PostgreSQL of our
own, bookings streaming. Mid-stream the node leading notifications' quorum queue is lost — stopped
gracefully, or killed with SIGKILL — and the bookings go on against the two nodes left. Two shapes:

- `connected`: the lost node also holds every service's connection (the front sends each new client
  to the first node up, and a queue's leader is placed on the node its declaring client is on): the
  services reconnect through the front to a survivor, and the queues elect new leaders;
- `leader-only`: the consumed queues' leaders are first moved to another node, so only the leader is
  lost; the services' connections stay where they are, their channels follow the new leader.

Every booking answered 201 is alerted exactly once by email and once by Slack, and nothing is alerted
that was not booked (tests.support.faults counts, reports the line and asserts)."""

from __future__ import annotations

import pytest

from tests.support.faults import fault_run
from tests.support.private_infra import PrivatePostgres, RabbitCluster

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("shape", ["connected", "leader-only"])
@pytest.mark.parametrize("how", ["stopped", "killed"])
async def test_losing_the_node_leading_the_queues_loses_and_doubles_nothing(start, tmp_path, how, shape):
    async with PrivatePostgres() as pg, RabbitCluster(3) as cluster:
        with cluster.front() as front:
            async def database(service: str) -> str:
                return await pg.create_database(f"oia_{service}")

            name = f"rabbitmq-node-{how}" + ("-leader-only" if shape == "leader-only" else "")
            async with fault_run(name, start, tmp_path,
                                 amqp_url=f"amqp://guest:guest@127.0.0.1:{front.port}/",
                                 databases_from=database) as run:
                prefix = run.d.queue_prefix
                # The services' queues: each consuming service's, its retry queues and its dead letters,
                # all quorum queues replicated on the three nodes.
                queues = [q for q in await cluster.queues() if str(q["name"]).startswith(prefix)]
                assert {q["type"] for q in queues} == {"quorum"}, queues
                assert all(sorted(q["members"]) == sorted(cluster.nodes) for q in queues), queues  # type: ignore
                consumed = sorted(str(q["name"]) for q in queues if "." not in str(q["name"])[len(prefix):])
                assert prefix + "notifications" in consumed, consumed
                first = cluster.nodes[0]
                assert {front.connected_to[0][1]} == {port for _, port in front.connected_to} == {cluster.ports[0]}
                if shape == "leader-only":
                    for queue in consumed:
                        await cluster.move_leader(queue, away_from=first)
                lost = await cluster.leader_of(prefix + "notifications")
                assert (lost == first) == (shape == "connected"), (shape, lost)
                led = [q[len(prefix):] for q in consumed if await cluster.leader_of(q) == lost]
                connections = len(front.connected_to)

                await run.bookings_made(10)
                if how == "stopped":
                    await cluster.stop_node(lost)
                else:
                    await cluster.kill_node(lost)
                run.fault_over()  # the cluster is two nodes from now on: settle counts the recovery
                leaders = {q: await cluster.leader_of(q) for q in consumed}
                run.more.update(node=lost.split("@")[0], led=",".join(led))
                assert lost not in leaders.values(), leaders
                await run.bookings_made(30)  # on the two nodes left
                run.more["reconnects"] = len(front.connected_to) - connections
                if shape == "leader-only":
                    assert run.more["reconnects"] == 0, front.connected_to  # the leader alone was lost
