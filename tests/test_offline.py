"The embedded default data set must work with no network at all."
import subprocess, sys, textwrap

def test_mnist5k_needs_no_network():
    code = textwrap.dedent('''
        import socket
        def _no_net(*a, **k): raise OSError("network disabled in this test")
        socket.socket.connect = _no_net
        socket.create_connection = _no_net
        from part_nb.data import mnist5k_dls
        dls = mnist5k_dls(bs=32)
        x, y = dls.one_batch()
        assert x.shape == (32, 1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
        print("ok", len(dls.train_ds), len(dls.valid_ds))
    ''')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ['ok', '4000', '1000']

def test_missing_dataset_message_offline(tmp_path):
    from part_nb.data import cifar10_dls, DatasetNotFound
    import pytest
    with pytest.raises(DatasetNotFound, match=r"CIFAR-10 not found at .*Download https?://"):
        cifar10_dls(path=tmp_path/'cifar10', download=False)
