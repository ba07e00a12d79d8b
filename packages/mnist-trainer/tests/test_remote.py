"""Remote matmul mode against a real cuda-kernels gRPC server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from mnist_trainer import preset
from mnist_trainer.errors import ServiceUnavailableError
from mnist_trainer.remote import MatmulService, RemoteLinear, use_service
from mnist_trainer.train import fit

service_module = pytest.importorskip("cuda_kernels.service", reason="cuda-kernels service absent")


@pytest.fixture(scope="module")
def server():
    """A real KernelService on a free loopback port, numpy backend (no GPU needed)."""
    config = service_module.ServerConfig(host="127.0.0.1", port=0, backend="numpy")
    with service_module.KernelServer(config) as running:
        yield running


@pytest.fixture
def service(server):
    connected = MatmulService.connect(server.address, timeout=10, retries=1)
    yield connected
    connected.close()


def test_remote_layer_gradients_equal_local_ones(service: MatmulService):
    torch.manual_seed(0)
    local = nn.Linear(37, 19)
    remote = RemoteLinear(nn.Linear(37, 19), service)
    remote.load_state_dict(local.state_dict())
    x_local = torch.randn(23, 37, requires_grad=True)
    x_remote = x_local.detach().clone().requires_grad_(True)
    upstream = torch.randn(23, 19)

    y_local, y_remote = local(x_local), remote(x_remote)
    torch.testing.assert_close(y_remote, y_local, rtol=1e-5, atol=1e-5)
    (y_local * upstream).sum().backward()
    (y_remote * upstream).sum().backward()
    torch.testing.assert_close(x_remote.grad, x_local.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(remote.weight.grad, local.weight.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(remote.bias.grad, local.bias.grad, rtol=1e-5, atol=1e-5)
    # forward: 1 call; backward: one for the input's gradient, one for the weight's
    assert service.calls == 1 + 3  # connect's GetInfo counts as one


def test_remote_gradients_match_finite_differences(service: MatmulService):
    """gradcheck's idea at float32 tolerances: analytic vs central differences."""
    torch.manual_seed(1)
    layer = RemoteLinear(nn.Linear(6, 4), service)
    x = torch.randn(5, 6, requires_grad=True)
    (layer(x) ** 2).sum().backward()
    eps = 1e-2
    with torch.no_grad():
        for i, j in [(0, 0), (2, 3), (4, 5)]:
            bumped = x.detach().clone()
            bumped[i, j] += eps
            up = (layer(bumped) ** 2).sum()
            bumped[i, j] -= 2 * eps
            down = (layer(bumped) ** 2).sum()
            assert x.grad[i, j].item() == pytest.approx(
                ((up - down) / (2 * eps)).item(), rel=2e-2, abs=2e-3
            )


def test_use_service_swaps_every_linear_and_keeps_state_keys(service: MatmulService):
    from mnist_trainer.model import MLP

    model = MLP((16, 8))
    keys = list(model.state_dict())
    assert use_service(model, service) == 3
    assert list(model.state_dict()) == keys
    assert not any(isinstance(m, nn.Linear) for m in model.modules())


def test_short_remote_training_run_learns(server, dataset, tmp_path: Path):
    config = preset(
        "fast",
        hidden_sizes=(64,),
        epochs=2,
        train_subset=3000,
        val_size=1000,
        batch_size=100,
        lr=3e-3,
        matmul_service=server.address,
        eval_batch_size=5000,
    )
    metrics = fit(config, tmp_path / "run", dataset=dataset, progress=False, log=lambda s: None)
    assert metrics["test_accuracy"] > 0.65  # chance is 0.10
    assert (tmp_path / "run" / "model.pt").exists()


def test_unreachable_service_is_a_clear_error(tmp_path: Path):
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServiceUnavailableError, match=f"127.0.0.1:{port} unreachable"):
        MatmulService.connect(f"127.0.0.1:{port}", timeout=3, retries=1)


def test_service_lost_mid_run_keeps_the_last_checkpoint(dataset, tmp_path: Path):
    config = service_module.ServerConfig(host="127.0.0.1", port=0, backend="numpy")
    doomed = service_module.KernelServer(config).start()
    settings = preset(
        "fast",
        hidden_sizes=(32,),
        epochs=3,
        train_subset=1000,
        val_size=500,
        batch_size=100,
        matmul_service=doomed.address,
        service_timeout=3,
        service_retries=2,
    )

    def stop_after_first_epoch(row):
        if row["epoch"] == 1:
            doomed.stop()

    with pytest.raises(ServiceUnavailableError, match="last good checkpoint") as info:
        fit(
            settings,
            tmp_path / "run",
            dataset=dataset,
            progress=False,
            log=lambda s: None,
            on_epoch_end=stop_after_first_epoch,
        )
    assert "--resume" in str(info.value)
    blob = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert blob["epoch"] == 1


def test_embedded_service_trains(dataset, tmp_path: Path):
    config = preset(
        "fast",
        hidden_sizes=(32,),
        epochs=1,
        train_subset=1000,
        val_size=500,
        batch_size=100,
        matmul_service="embedded",
    )
    lines: list[str] = []
    metrics = fit(config, tmp_path / "run", dataset=dataset, progress=False, log=lines.append)
    assert metrics["test_accuracy"] > 0.3
    assert any("embedded" in line for line in lines)
