"""Strict specs and explicit parameters: every spec field is used or refused by name, and the
inputs a document updates are the parameters — given by `params:`, or every input but data and
constants (by name or listed under `data:` / `constants:`)."""
import pytest

from derive import DeriveError, Example
from derive.model.example import classify_inputs
from derive.model.spec import example_from_spec, load_spec, mlp_from_spec

NEURON = "equations: |\n  z = w*x + b\n  a = sigmoid(z)\n  L = binary_cross_entropy(a, y)\nvalues: {x: 2, w: 0.5, b: 0, y: 1}\n"


def spec(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("extra, words", [
    ("loss: binary_cross_entropy\n", ["`loss` is not used by an equations spec",
                                      "`L = binary_cross_entropy(a, y)`"]),
    ("activation: relu\n", ["`activation` is not used", "`a = relu(z)`"]),
    ("weights: [[[1]]]\n", ["`weights` is not used", "derive mlp"]),
    ("constraints: ['z > 0']\n", ["`constraints` filter the `random` draws"]),
    ("focus: q\n", ["`focus: q` is not an input"]),
    ("ask: ['dL/dq']\n", ["`ask` entry 'dL/dq'"]),
    ("params: [w, q]\n", ["'q' is not an input"]),
    ("data: [w]\nconstants: [w]\n", ["listed under both `data` and `constants`"]),
    ("colour: red\n", ["unknown field(s) colour"]),
])
def test_an_equations_spec_refuses_what_it_would_not_use(tmp_path, extra, words):
    with pytest.raises(DeriveError) as err:
        example_from_spec(load_spec(spec(tmp_path, NEURON + extra)))
    for w in words:
        assert w in str(err.value)


def test_focus_ask_instructions_and_precision_are_used(tmp_path):
    ex = example_from_spec(load_spec(spec(tmp_path, NEURON + "focus: b\nask: ['dL/db', 'dL/dw']\n"
                                          "instructions: Do it by hand.\nprecision: 6\nlr: 0.1\n")))
    assert ex.focus == "b" and ex.derivation().wrt == "b" and ex.meta["ask"] == ["dL/db", "dL/dw"]
    assert ex.meta["instructions"] == "Do it by hand." and ex.precision == 6
    assert "To update b we need ∂L/∂b" in ex.to_text()


def test_an_mlp_spec_refuses_equation_fields(tmp_path):
    net = "inputs: [1, 2]\nweights: [[[1, 2]]]\nbiases: [[0]]\ntargets: [1]\n"
    for extra in ("values: {x: 1}\n", "equations: 'L = x'\n", "params: [w1_1_1]\n"):
        with pytest.raises(DeriveError, match="is not used by an mlp spec"):
            mlp_from_spec(spec(tmp_path, net + extra))
    assert mlp_from_spec(spec(tmp_path, net + "precision: 3\n")).precision == 3


def test_batchnorm_gamma_beta_and_kernels_are_parameters_eps_and_lam_are_not():
    bn = Example.from_equations("n = (x - mu)/sqrt(var + eps)\no = gamma*n + beta\nL = g*o + lam*gamma**2",
                                data=["g"])
    assert bn.params == ["mu", "var", "gamma", "beta"]  # mu, var are free inputs here
    assert "eps" not in bn.params and "lam" not in bn.params and "g" not in bn.params
    assert bn.roles["eps"] == bn.roles["lam"] == "constant" and bn.roles["x"] == bn.roles["g"] == "data"
    conv = Example.from_equations("o1 = relu(k1*x1 + k2*x2 + b)\nL = (o1 - y1)**2")
    assert conv.params == ["k1", "k2", "b"]


def test_the_hidden_state_h_is_data_and_gets_no_update():
    ex = Example.from_equations("h1 = tanh(U*x + V*h)\nL = (h1 - y)**2",
                                values={"U": 1, "x": 1, "V": "0.5", "h": 2, "y": 0}, lr="0.1")
    assert ex.params == ["U", "V"] and ex.roles["h"] == "data"
    text = " ".join(ex.to_text().split())
    assert "Gradient descent updates the parameters U and V; x, h and y are data, given and never updated." in text
    assert "h_new" not in text


def test_params_data_and_constants_can_be_listed():
    roles = classify_inputs(["w", "x", "lam", "t", "v"], data=["w"], constants=["t"])
    assert roles == {"w": "data", "x": "data", "lam": "constant", "t": "constant", "v": "parameter"}
    # nothing left to train: the data recognised by name are differentiated, listed data are not
    assert classify_inputs(["x", "y", "w"], data=["w"]) == {"x": "parameter", "y": "parameter", "w": "data"}
    assert classify_inputs(["theta", "tau", "p", "mask1"]) == {
        "theta": "parameter", "tau": "constant", "p": "constant", "mask1": "data"}
    ex = Example.from_equations("L = lam*w*w + x", params=["w", "lam"], values={"w": 1, "lam": 2, "x": 3}, lr=1)
    assert ex.params == ["w", "lam"] and ex.update("lam") == 1


def test_every_document_states_the_inputs_it_updates():
    import derive
    def flat(text):
        return " ".join(text.split())
    assert "Gradient descent updates the parameters w and b; x and y are data" in \
        flat(derive.neuron(x=2, w=3, b=1, y=5, lr=0.1).to_text())
    assert "The parameters (what training would update) are w1, w2 and w3" in \
        flat(derive.chain(depth=3, weight=5, x=1).to_text())
