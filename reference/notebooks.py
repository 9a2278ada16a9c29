"""The reference solutions as Jupyter notebooks, generated from the solutions' own source.

A part's notebook holds the imports and constants its solution uses, the
source of every reference function and class it calls (found by following
names from the solution function, so the notebook shows exactly the code
that ``reference.run`` executes), and a last cell that loads the data
folder, trains and writes ``results/`` like ``grade reference run``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pprint
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import rubric as rubric_lib
from grader.rubric import Part, Rubric

OWN_PACKAGE = "reference"


def notebook_name(part: Part, stem: str) -> str:
    return f"{part.id}_{stem}.ipynb"


@dataclass
class _Source:
    """What a notebook needs, gathered by walking names from the solution function."""

    imports: dict[str, list[str]] = field(default_factory=dict)   # "from X" or "import X" -> names
    constants: dict[str, str] = field(default_factory=dict)       # name -> assignment source
    definitions: dict[str, str] = field(default_factory=dict)     # name -> function/class source, callees first


def _own(value: object) -> bool:
    module = getattr(value, "__module__", "") or ""
    return (inspect.isfunction(value) or inspect.isclass(value)) and module.split(".")[0] == OWN_PACKAGE


def _module_bindings(module) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """A module's top-level imports (name -> (statement head, imported name)) and constants (name -> source)."""
    source = inspect.getsource(module)
    tree = ast.parse(source)
    imports: dict[str, tuple[str, str]] = {}
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                shown = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
                imports[alias.asname or alias.name] = (f"from {node.module} import", shown)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                shown = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
                imports[alias.asname or alias.name.split(".")[0]] = ("import", shown)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            segment = ast.get_source_segment(source, node) or ""
            for target in targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = segment
    return imports, constants


def _walk(obj: object, gathered: _Source) -> None:
    """Add ``obj`` after everything it refers to (depth first)."""
    name = obj.__name__
    if name in gathered.definitions:
        return
    gathered.definitions[name] = ""          # placeholder: guards recursion, keeps order
    module = sys.modules[obj.__module__]
    imports, constants = _module_bindings(module)
    source = inspect.getsource(obj)
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Name) or node.id == name:
            continue
        value = vars(module).get(node.id)
        if _own(value):
            _walk(value, gathered)
        elif node.id in constants:
            gathered.constants.setdefault(node.id, constants[node.id])
        elif node.id in imports:
            head, shown = imports[node.id]
            names = gathered.imports.setdefault(head, [])
            if shown not in names:
                names.append(shown)
    del gathered.definitions[name]           # re-insert after its callees
    gathered.definitions[name] = source.rstrip() + "\n"


def gather(function) -> _Source:
    gathered = _Source()
    _walk(function, gathered)
    return gathered


def _imports_cell(gathered: _Source) -> str:
    lines = [f"import {name}" for name in gathered.imports.get("import", [])]
    lines += [f"{head} {', '.join(names)}" for head, names in gathered.imports.items() if head != "import"]
    return "\n".join(lines)


def _rubric_reference(rubric: Rubric) -> str:
    """How the notebook names the rubric: by id when that finds the same file, else by path."""
    if rubric.path and rubric_lib.resolve(rubric.id).resolve() != Path(rubric.path).resolve():
        return rubric.path
    return rubric.id


def _driver_head(part: Part, rubric: Rubric, seed: int, imports: str) -> str:
    return f'''# Run the solution on the data folder and write the results where the grader looks for them.
from pathlib import Path

import keras

from grader import rubric as rubric_lib
{imports}

DATA_DIR = default_data_dir()     # Keras's cache (~/.keras), or $GRADER_DATA_DIR
RUBRIC = rubric_lib.load({_rubric_reference(rubric)!r})
PART = RUBRIC.part({part.id!r})
DATASET = RUBRIC.dataset_of(PART)
keras.utils.set_random_seed({seed})
'''


def _images_driver(part: Part, rubric: Rubric, seed: int) -> str:
    head = _driver_head(part, rubric, seed, "from grader.datasets import default_data_dir, imagenet_files\n"
                                            "from reference.results import write_imagenet_results")
    return head + '''
files = imagenet_files(DATA_DIR)
predictions = classify_folder(
    Path(PART.input_dirs[0]), files["weights"], files["class_index"],
    image_size=tuple(DATASET.input_shape[:2]),
)
write_imagenet_results(predictions, PART, root=Path("."))
for p in predictions:
    print(p.image, p.rank, p.label, round(p.probability, 4))
'''


def _classifier_driver(part: Part, rubric: Rubric, function_name: str, seed: int, quick_samples: int,
                       quick_epochs: int, quick_settings: dict) -> str:
    head = _driver_head(part, rubric, seed, "from grader.datasets import default_data_dir, load_test_set, "
                                            "load_train_set\nfrom reference.results import write_classifier_results")
    narrower = f", {', '.join(f'{k}={v!r}' for k, v in quick_settings.items())}" if quick_settings else ""
    return head + f'''QUICK = False    # True: the first {quick_samples:,} training images, {quick_epochs} epoch{"s" * (quick_epochs != 1)}{narrower} (a smoke test)

x_train, y_train = load_train_set(DATASET, DATA_DIR)
x_test, y_test = load_test_set(DATASET, DATA_DIR)
settings = {{}}
if QUICK:
    x_train, y_train = x_train[:{quick_samples}], y_train[:{quick_samples}]
    settings = {{"epochs": {quick_epochs}{"".join(f', "{k}": {v!r}' for k, v in quick_settings.items())}}}
trained = {function_name}(x_train, y_train, x_test, y_test, num_classes=DATASET.num_classes, **settings)
write_classifier_results(trained, PART, root=Path("."), quick=QUICK)
print(f"test accuracy {{trained.test_accuracy:.4f}}, test loss {{trained.test_loss:.4f}}")
'''


def _comparison_driver(part: Part, rubric: Rubric, function_name: str, seed: int, described: dict,
                       measure: dict) -> str:
    head = _driver_head(part, rubric, seed, "from grader.datasets import default_data_dir, load_test_set\n"
                                            "from reference.results import load_compared, write_comparison_results")
    options = "".join(f", {key}={value!r}" for key, value in measure.items())
    return head + f'''# What the discussion says of each model's design, besides its measured figures.
DESCRIBED = {pprint.pformat(described, width=110, sort_dicts=False)}

# The compared parts' models and metrics, as their notebooks saved them under results/.
x_test, _ = load_test_set(DATASET, DATA_DIR)
compared, context = load_compared(RUBRIC, PART, DESCRIBED, root=Path("."))
comparison = {function_name}(compared, x_test, context=context{options})
write_comparison_results(comparison, PART, root=Path("."))
print(comparison.table_csv)
'''


def _transfer_driver(part: Part, rubric: Rubric, function, seed: int, quick_samples: int, quick_epochs: int,
                     quick_settings: dict, starts_from: str) -> str:
    from reference.transfer_runner import application_of, transfer_driver

    head = _driver_head(part, rubric, seed, "from grader.datasets import default_data_dir, find_weights, "
                                            "load_test_set, load_train_set\n"
                                            "from reference.results import canonical_file, write_classifier_results")
    return transfer_driver(function.__name__, head, quick_samples, quick_epochs, quick_settings, starts_from,
                           application_of(function, {}))


def build_notebook(part: Part, rubric: Rubric, function, *, seed: int, quick_samples: int, quick_epochs: int,
                   kind: str | None = None, folder_part: bool = False, quick_settings: dict | None = None,
                   described: dict | None = None, measure: dict | None = None,
                   starts_from: str = "") -> nbformat.NotebookNode:
    """The notebook of one part, from ``function``'s source and everything it calls.
    ``kind`` is the solution's (reference/solutions.toml); ``folder_part`` is the older spelling of "images"."""
    kind = kind or ("images" if folder_part else "classifier")
    gathered = gather(function)
    module = importlib.import_module(function.__module__)
    intro = f"# {part.id}: {part.title}\n\n{inspect.getdoc(module) or ''}\n\n" \
            f"Generated from `{function.__module__}.{function.__name__}` by `reference.notebooks`."
    cells = [new_markdown_cell(intro), new_code_cell(_imports_cell(gathered))]
    if gathered.constants:
        cells.append(new_code_cell("\n".join(gathered.constants.values())))
    cells += [new_code_cell(source.rstrip()) for source in gathered.definitions.values()]
    if kind == "images":
        driver = _images_driver(part, rubric, seed)
    elif kind == "comparison":
        driver = _comparison_driver(part, rubric, function.__name__, seed, described or {}, measure or {})
    elif kind == "transfer":
        driver = _transfer_driver(part, rubric, function, seed, quick_samples, quick_epochs,
                                  dict(quick_settings or {}), starts_from)
    else:
        driver = _classifier_driver(part, rubric, function.__name__, seed, quick_samples, quick_epochs,
                                    dict(quick_settings or {}))
    cells.append(new_code_cell(driver.rstrip()))
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.validate(notebook)
    return notebook


def code_of(notebook: nbformat.NotebookNode) -> str:
    """All code cells joined, in order: what running the notebook top to bottom executes."""
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
