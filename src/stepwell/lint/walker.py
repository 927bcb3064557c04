"""The walk through a durable function: its body, the step callables it hands to ``step.run``
(walked as inside the step), and the helpers of the same file it calls (walked in the context
they are called from, with the parameters that receive ``ctx`` or ``ctx.step`` bound).

Rule groups see every node the function runs; nested function definitions are only walked when
they are called, given to a step, or given to ``group.parallel``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from stepwell.lint.discover import DurableFunction
from stepwell.lint.names import Def, ModuleInfo, add_import, nested_defs, qualname
from stepwell.lint.nodes import node_fields
from stepwell.lint.scope import CallInfo, RuleGroup, Scope, step_id

_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign)
_RETURNS = (ast.Return, ast.Yield, ast.YieldFrom)
_WITHS = (ast.With, ast.AsyncWith)
_IMPORTS = (ast.Import, ast.ImportFrom)
_DECLARATIONS = (ast.Global, ast.Nonlocal)
_FN_KEYWORDS = ("fn", "func", "handler")
# Nodes with nothing under them a rule looks at.
_LEAVES = frozenset(
    {ast.Name, ast.Constant, ast.Load, ast.Store, ast.Del, ast.Pass, ast.Break, ast.Continue}
    | {cls for base in (ast.operator, ast.cmpop, ast.unaryop, ast.boolop)
       for cls in base.__subclasses__()}
)  # fmt: skip


def _skip(node: ast.AST, scope: Scope) -> None:
    return None


class Walker:
    def __init__(self, groups: Sequence[RuleGroup]) -> None:
        self.groups = groups
        self._handlers = self._dispatch()
        self._followed: set[tuple[int, bool, frozenset[str], frozenset[str]]] = set()

    def walk(self, function: DurableFunction, module: ModuleInfo) -> None:
        node = function.node
        scope = Scope(
            function=function,
            module=module,
            definition=node,
            ctx_names=set(function.ctx_names),
            step_names=set(function.step_names),
            is_async=isinstance(node, ast.AsyncFunctionDef),
            imports=module.imports,
            local_defs={**function.enclosing, **nested_defs(node.body)},
            objects=dict(module.objects),
        )
        self._followed = set()
        for group in self.groups:
            group.begin(function, scope)
        self.statements(node.body, scope)
        for group in self.groups:
            group.end(function, scope)

    # -- nodes ------------------------------------------------------------------------------

    def statements(self, body: Iterable[ast.AST], scope: Scope) -> None:
        for node in body:
            self.visit(node, scope)

    def visit(self, node: ast.AST, scope: Scope) -> None:
        handler = self._handlers.get(type(node))
        if handler is None:
            self.children(node, scope)
        else:
            handler(node, scope)

    def _dispatch(self) -> dict[type, Callable[[Any, Scope], None]]:
        """What ``visit`` does with each kind of node (nodes of other kinds: their children)."""
        handlers: dict[type, Callable[[Any, Scope], None]] = dict.fromkeys(_LEAVES, _skip)
        handlers.update(dict.fromkeys(_DEFINITIONS, _skip))  # walked when called
        handlers[ast.Call] = self.call
        handlers.update(dict.fromkeys(_LOOPS, self.loop))
        handlers.update(dict.fromkeys(_COMPREHENSIONS, self.comprehension))
        handlers.update(dict.fromkeys(_ASSIGNMENTS, self.assign))
        handlers[ast.Expr] = self.expression
        handlers.update(dict.fromkeys(_RETURNS, self.returned))
        handlers.update(dict.fromkeys(_WITHS, self.with_))
        handlers.update(dict.fromkeys(_IMPORTS, self.imported))
        handlers.update(dict.fromkeys(_DECLARATIONS, self.declared))
        return handlers

    def expression(self, node: ast.Expr, scope: Scope) -> None:
        for group in self.groups:
            group.on_expression(node, scope)
        self.visit(node.value, scope)

    def returned(self, node: ast.Return | ast.Yield | ast.YieldFrom, scope: Scope) -> None:
        if node.value is not None:
            for group in self.groups:
                group.on_return(node.value, scope)
            self.visit(node.value, scope)

    def with_(self, node: ast.With | ast.AsyncWith, scope: Scope) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                for group in self.groups:
                    group.on_assign([item.optional_vars], item.context_expr, scope)
        self.children(node, scope)

    def imported(self, node: ast.Import | ast.ImportFrom, scope: Scope) -> None:
        scope.imports = dict(scope.imports)
        add_import(scope.imports, node)

    def declared(self, node: ast.Global | ast.Nonlocal, scope: Scope) -> None:
        scope.declared_global.update(node.names)

    def children(self, node: ast.AST, scope: Scope) -> None:
        """Visit the nodes under ``node``, in the order ``ast.iter_child_nodes`` gives them."""
        visit = self.visit
        for name in node_fields(type(node)):
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        visit(item, scope)
            elif isinstance(value, ast.AST):
                visit(value, scope)

    def loop(self, node: ast.For | ast.AsyncFor | ast.While, scope: Scope) -> None:
        body: list[ast.AST] = [*node.body]
        for group in self.groups:
            group.on_loop(node, body, scope)
        if isinstance(node, ast.While):
            self.visit(node.test, scope)
        else:
            self.visit(node.iter, scope)
        inner = scope.but(loops=(*scope.loops, node))
        self.statements(node.body, inner)
        self.statements(node.orelse, scope)

    def comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, scope: Scope
    ) -> None:
        first, *rest = node.generators
        self.visit(first.iter, scope)
        inner = scope.but(loops=(*scope.loops, node))
        for generator in rest:
            self.visit(generator.iter, inner)
        for generator in node.generators:
            self.statements(generator.ifs, inner)
        elements = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        body: list[ast.AST] = list(elements)
        for group in self.groups:
            group.on_loop(node, body, scope)
        self.statements(elements, inner)

    def assign(self, node: ast.Assign | ast.AnnAssign | ast.AugAssign, scope: Scope) -> None:
        targets: list[ast.expr] = (
            list(node.targets) if isinstance(node, ast.Assign) else [node.target]
        )
        value = node.value
        if value is not None:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                for target in targets:
                    if isinstance(target, ast.Name):
                        if scope.is_step_tools(value):
                            scope.step_names.add(target.id)
                        elif scope.is_ctx(value):
                            scope.ctx_names.add(target.id)
            for group in self.groups:
                group.on_assign(targets, value, scope)
            self.visit(value, scope)
        for target in targets:
            if not isinstance(target, ast.Name):
                self.visit(target, scope)

    # -- calls ------------------------------------------------------------------------------

    def call(self, node: ast.Call, scope: Scope) -> None:
        method = scope.step_method(node)
        helper = self.helper(node.func, scope) if method is None else None
        info = CallInfo(node, qualname(node.func, scope.imports), method, helper)
        for group in self.groups:
            group.on_call(info, scope)
        if method is not None:
            self.step_call(node, method, scope)
            return
        if not isinstance(node.func, ast.Name):
            self.visit(node.func, scope)
        self.arguments(node.args, node.keywords, scope)
        if helper is not None:
            self.follow(helper, scope, node)
        elif info.qualname == "functools.partial" and node.args:
            target = self.helper(node.args[0], scope)
            if target is not None:
                self.follow(target, scope, None)

    def arguments(
        self, args: Iterable[ast.expr], keywords: Iterable[ast.keyword], scope: Scope
    ) -> None:
        for arg in args:
            self.visit(arg, scope)
        for keyword in keywords:
            self.visit(keyword.value, scope)

    def helper(self, func: ast.expr, scope: Scope) -> Def | None:
        if not isinstance(func, ast.Name):
            return None
        found = scope.local_defs.get(func.id)
        if found is None and func.id in scope.module.helpers and not scope.binds(func.id):
            found = scope.module.helpers[func.id]
        return found

    def step_call(self, node: ast.Call, method: str, scope: Scope) -> None:
        ident = step_id(node)
        if ident is not None:
            self.visit(ident, scope.but(in_step_id=True))
        rest = [a for a in node.args if a is not ident]
        keywords = [k for k in node.keywords if k.value is not ident]
        if method == "run":
            fn: ast.expr | None = rest.pop(0) if rest else None
            if fn is None:
                fn = next((k.value for k in keywords if k.arg in _FN_KEYWORDS), None)
                keywords = [k for k in keywords if k.value is not fn]
            if fn is not None:
                self.step_callable(fn, node, scope)
        elif method == "parallel" and rest and isinstance(rest[0], ast.List | ast.Tuple):
            for element in rest[0].elts:
                target = self.helper(element, scope)
                if target is not None:
                    self.follow(target, scope, None)
        self.arguments(rest, keywords, scope)

    def step_callable(self, fn: ast.expr, call: ast.Call, scope: Scope) -> None:
        inside = scope.but(in_step=True, step_call=call, loops=(), in_step_id=False)
        if isinstance(fn, ast.Lambda):
            for group in self.groups:
                group.on_step_callable(fn, call, scope)
            self.visit(fn.body, inside)
            return
        target = self.helper(fn, scope)
        if (
            target is None
            and isinstance(fn, ast.Call)
            and fn.args
            and qualname(fn.func, scope.imports) == "functools.partial"
        ):
            target = self.helper(fn.args[0], scope)
            self.arguments(fn.args[1:], fn.keywords, scope)
        if target is None:
            self.visit(fn, scope)
            return
        for group in self.groups:
            group.on_step_callable(target, call, scope)
        self.follow(target, inside, None)

    def follow(self, target: Def, scope: Scope, call: ast.Call | None) -> None:
        """Walk ``target``'s body as called from ``scope``; ``call``'s arguments that are the
        context or the step tools bind the parameters that receive them."""
        nested = target in scope.local_defs.values()
        ctx = set(scope.ctx_names) if nested else set()
        steps = set(scope.step_names) if nested else set()
        if call is not None:
            params = [a.arg for a in [*target.args.posonlyargs, *target.args.args]]
            pairs = list(zip(params, call.args, strict=False))
            pairs += [(k.arg, k.value) for k in call.keywords if k.arg is not None]
            for param, arg in pairs:
                if scope.is_ctx(arg):
                    ctx.add(param)
                elif scope.is_step_tools(arg):
                    steps.add(param)
        key = (id(target), scope.in_step, frozenset(ctx), frozenset(steps))
        if key in self._followed:
            return
        self._followed.add(key)
        local_defs = {**scope.local_defs, **nested_defs(target.body)} if nested else None
        inner = scope.but(
            definition=target,
            ctx_names=ctx,
            step_names=steps,
            is_async=isinstance(target, ast.AsyncFunctionDef),
            local_defs=local_defs if local_defs is not None else nested_defs(target.body),
            imports=scope.imports if nested else scope.module.imports,
            tainted=set(),
            declared_global=set(),
            loops=(),
            in_step_id=False,
            _bound=None,
        )
        self.statements(target.body, inner)
