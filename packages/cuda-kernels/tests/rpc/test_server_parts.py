"""The server's plain parts without gRPC: the memory budget, the worker pool and its queue,
what may go into a log line, and the table of operations the servicer serves."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest

from cuda_kernels.backends import NumpyBackend
from cuda_kernels.rpc.protocol.errors import ServiceError
from cuda_kernels.rpc.protocol.methods import METHODS
from cuda_kernels.rpc.server import KernelServicer, ServerConfig
from cuda_kernels.rpc.server.budget import MemoryBudget, default_budget_bytes
from cuda_kernels.rpc.server.calls import loggable
from cuda_kernels.rpc.server.operations import OPERATIONS
from cuda_kernels.rpc.server.workers import KernelWorkers


def test_the_servicer_serves_every_method_of_the_contract_from_the_table():
    workers = KernelWorkers(1, 1)
    try:
        servicer = KernelServicer(NumpyBackend(), ServerConfig().limits, "0", threading.Event(),
                                  MemoryBudget(1 << 20), workers)  # fmt: skip
        assert set(servicer.behaviors()) == set(METHODS)
    finally:
        workers.shutdown()
    served = {op.name: (op.operands, op.result) for op in OPERATIONS}
    assert served == {"MatMul": (("a", "b"), "c"), "Doublify": (("x",), "y")}


def test_budget_reserves_releases_and_refuses_with_the_numbers():
    async def scenario():
        budget = MemoryBudget(100)
        first = await budget.reserve(60, 0, "call one")
        with pytest.raises(ServiceError) as caught:
            await budget.reserve(50, 0, "call two")
        assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "call two needs 50 bytes but this server holds 60 of its 100-byte" in (
            caught.value.details
        )
        with pytest.raises(ServiceError, match="more than this server's whole memory budget"):
            await budget.reserve(101, 10.0, "a giant")  # refused without waiting
        waiter = asyncio.ensure_future(budget.reserve(50, 10.0, "call three"))
        await asyncio.sleep(0)  # it waits for room
        assert not waiter.done()
        first.release(20)  # 40 held: room for 50 now
        second = await waiter
        assert budget.held == 90
        with pytest.raises(ServiceError, match=r"stayed too full \(90 bytes held"):
            await budget.reserve(20, 0.01, "call four")
        first.release()
        first.release()  # twice is harmless
        second.release()
        assert budget.held == 0

    asyncio.run(scenario())


def test_default_budget_is_a_fraction_of_ram_and_of_device_memory():
    ram_share = default_budget_bytes()
    assert ram_share > 0
    assert default_budget_bytes(device_memory_bytes=2 << 30) == min(ram_share, 1 << 30)


def test_workers_run_small_work_inline_only_when_idle_and_refuse_past_the_queue():
    loop_thread = threading.get_ident
    gate = threading.Event()

    async def scenario():
        workers = KernelWorkers(workers=1, max_queued=1)
        here = loop_thread()
        assert await workers.run(loop_thread, inline=True) == here  # idle: on the loop
        assert await workers.run(loop_thread) != here  # not asked to: a worker thread
        busy = asyncio.ensure_future(workers.run(lambda: gate.wait(30)))
        while not workers.running:
            await asyncio.sleep(0)
        queued = asyncio.ensure_future(workers.run(loop_thread, inline=True))
        await asyncio.sleep(0)
        assert workers.waiting == 1  # not inline: a call is running
        with pytest.raises(ServiceError, match="1 calls running and 1 waiting"):
            await workers.run(loop_thread)
        gate.set()
        assert await busy is True
        assert await queued != here
        workers.shutdown()

    try:
        asyncio.run(scenario())
    finally:
        gate.set()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("abc-123_x.y:z/1+2@3~4", "abc-123_x.y:z/1+2@3~4"),
        ("two words", "'two words'"),
        ("new\nline", "'new\\nline'"),
        ("\x1b[31mred", "'\\x1b[31mred'"),
        ("", "''"),
        ("k" * 70, "k" * 64 + "...(+6 chars)"),
    ],
)
def test_loggable_escapes_and_cuts(text: str, shown: str):
    assert loggable(text) == shown
