from bepaper import progress


def test_a_terminal_gets_a_text_bar():
    assert not progress.in_kernel()
    b = progress.bar(range(3), disable=False)
    assert not b.disable
    assert list(b) == [0, 1, 2]


def test_a_kernel_without_widgets_gets_no_bar(monkeypatch):
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    monkeypatch.setattr(progress, "widgets", lambda: False)
    b = progress.bar(range(3), disable=False)
    assert b.disable  # no stderr box of carriage returns
    assert list(b) == [0, 1, 2]
