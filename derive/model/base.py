"""``ExampleBase``: what every example shares, scalar (``derive.model.example.Example``) or tensor
(``derive.model.tensors.TensorExample``) — one protocol both satisfy, so every method and command
works on both kinds or refuses by name (``NotApplicable``)."""
from __future__ import annotations

from .document import Document


class ExampleBase(Document):
    """What every example users hold shares, scalar (``Example``) or tensor (``TensorExample``):
    the names of its graph, the roles of its inputs, training, the table of numbers, the answer
    keys, and the document protocol (``render`` and ``to_<format>`` for every registered
    format, from ``Document``). A call that cannot apply to one kind is refused by name
    (``NotApplicable``) with the reason and what to use instead.

    >>> import derive
    >>> scalar = derive.Example.from_equations("L = (w*x)**2", values={"w": 3, "x": 2})
    >>> tensor = derive.Example.from_equations("L = sum(W @ x)", values={"W": [[1, 2]], "x": [3, 4]})
    >>> isinstance(scalar, ExampleBase) and isinstance(tensor, ExampleBase)
    True
    """

    matrices = False  # True when values and gradients are matrices (TensorExample)

    def document_content(self):
        """The worked solution as its documents print it: ``content()`` with the example's
        diagram (computation graph, network or layer graph) after the computation it draws."""
        from ..rendering.diagrams import with_diagram
        return with_diagram(self.content(), self)

    @property
    def inputs(self) -> list[str]:
        """Names used but never assigned, in order of first use (builders: x, w, b, y).

        >>> import derive
        >>> derive.Example.from_equations("z = w*x + b").inputs
        ['w', 'x', 'b']
        """
        return list(self.graph.inputs)

    @property
    def nodes(self) -> list[str]:
        """Computed names in evaluation order.

        >>> import derive
        >>> derive.Example.from_equations("z = w*x\\nL = z**2").nodes
        ['z', 'L']
        """
        return list(self.graph.nodes)

    @property
    def output(self) -> str:
        """The node differentiated (the last line unless ``output=`` named another).

        >>> import derive
        >>> derive.Example.from_equations("z = w*x\\nL = z**2").output
        'L'
        """
        return self.graph.output

    def inputs_with_role(self, role: str) -> list[str]:
        """The inputs that are "parameter", "data" or "constant", in input order.

        >>> import derive
        >>> derive.Example.from_equations("h1 = tanh(U*x + V*h)").inputs_with_role("data")
        ['x', 'h']
        """
        if role == "parameter":
            return list(self.params)
        return [n for n in self.inputs if self.roles[n] == role and n not in self.params]

    @property
    def focus(self) -> str:
        """The parameter whose gradient the document derives in full (first parameter).

        >>> import derive
        >>> derive.Example.from_equations("z = w*x + b\\nL = z**2").focus
        'w'
        """
        return self.meta.get("focus") or (self.params[0] if self.params else self.inputs[0])

    def train(self, steps: int, optimizer: str = "sgd", lr=None, **options):
        """``steps`` updates of ``optimizer`` (sgd, momentum, nesterov, rmsprop, adam, adamw,
        adagrad, or any registered in ``derive.training.optimizers`` — PyTorch's rules, exact) from
        this example's values, scalar or tensor. ``lr`` is a number or ``{parameter: lr}``
        (default: the example's lr, else PyTorch's default for the optimizer). ``options`` are the
        optimizer's hyperparameters as its registry entry declares them (``momentum``/``nesterov``
        for SGD and momentum for RMSprop, ``alpha`` for RMSprop, ``betas`` and ``eps`` for Adam …)
        and, for every optimizer, ``weight_decay`` (L2 in the gradient; decoupled for AdamW),
        ``clip_norm`` and ``clip_value``. Returns a ``Training``.

        >>> import derive
        >>> tr = derive.Example.from_equations("z = w*x + b\\na = relu(z)\\nL = (a - y)**2",
        ...                             values={"x": 2, "w": 3, "b": 1, "y": 5}).train(2, lr=0.1)
        >>> tr.loss, tr.value("w", 1)
        ([4, 0, 0], 11/5)
        """
        # the one entry point for scalar and tensor examples (derive.training.run)
        from ..training.run import train
        return train(self, steps, optimizer, lr, **options)

    def keys(self) -> dict[str, str]:
        """The answer keys ``check`` accepts, each with its display name: every value, local
        derivative (scalar examples), the output's derivative with respect to every name (and
        every entry of a builder's tensor, such as ``w1_2_1``), and the updates (with a learning
        rate). ``check`` also accepts a key written as displayed (``∂L/∂w⁽¹⁾₁,₁``).

        >>> import derive
        >>> ex = derive.Example.from_equations("z = w*x\\nL = z**2", values={"w": 3, "x": 2})
        >>> ex.keys()
        {'w': 'w', 'x': 'x', 'z': 'z', 'L': 'L', 'dz/dw': '∂z/∂w', 'dz/dx': '∂z/∂x', 'dL/dz': '∂L/∂z', 'dL/dw': '∂L/∂w', 'dL/dx': '∂L/∂x'}
        """
        from ..checking.answers import answer_keys
        return answer_keys(self)

    def table(self, as_dataframe: bool = False):
        """Every number of the example as Python floats: a ``Table`` (a list of ``Row``;
        ``.to_pandas()`` gives a DataFrame, as does ``as_dataframe=True``, when pandas is
        installed). A scalar example has a row per input and node with its value, local
        derivatives and gradient; a tensor example a row per entry (``W1[2,1]``).

        >>> import derive
        >>> ex = derive.Example.from_equations("z = w*x\\nL = z**2", values={"w": 3, "x": 2})
        >>> ex.table()[2]
        Row(name='z', display='z', kind='node', value=6.0, gradient=12.0, local={'w': 2.0, 'x': 3.0})
        """
        from ..checking.table import value_table
        table = value_table(self)
        return table.to_pandas() if as_dataframe else table


__all__ = ["ExampleBase"]
