from fleetbench.ops import OPS, expected_text, mode_within


def test_bitmask_is_no_bit_outside_the_mask():
    assert [mode_within(m, "600") for m in (0o600, 0o400, 0o000, 0o640, 0o644, 0o700)] == [True, True, True, False, False, False]
    assert [mode_within(m, "644") for m in (0o640, 0o600, 0o444, 0o664, 0o755)] == [True, True, True, False, False]
    assert mode_within(0o700, "700") and not mode_within(0o750, "700")


def test_eq_booleans_and_durations():
    eq, noteq = OPS["eq"].test, OPS["noteq"].test
    assert eq("False", "false") and eq("0", "0") and not eq("10255", "0")
    assert not noteq("0s", "0") and not noteq("0h0m0s", "0") and noteq("4h0m0s", "0")


def test_list_ops():
    assert OPS["has"].test("Node,RBAC", "RBAC") and not OPS["nothave"].test("AlwaysAllow,RBAC", "AlwaysAllow")
    assert OPS["valid_elements"].test("A,B", "A,B,C") and not OPS["valid_elements"].test("A,D", "A,B,C")
    assert not OPS["valid_elements"].test("", "A")
    assert OPS["gte"].test("30", "30") and not OPS["gte"].test("29", "30") and not OPS["gte"].test("5m", "1")


def test_wording_is_kube_benchs():
    assert expected_text("eq", "--anonymous-auth", "false") == "'--anonymous-auth' is equal to 'false'"
