"""
ONNX import and export (use tessera.onnx, not this module)
"""
from __future__ import annotations
import tessera._C
import typing
__all__ = ['Model', 'ValueInfo', 'export_compiled_to_bytes', 'export_function_to_bytes', 'import_model', 'import_model_from_bytes', 'inspect_file', 'load_tensor', 'supported_ops']
class Model:
    """
    An imported ONNX model (tessera.onnx.Model wraps it).
    """
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    def compile(self, *, optimize: bool = True, freeze: bool = False, dynamic_batch: bool = False, dump: bool = False, max_cached_graphs: int = 8) -> tessera._C.CompiledFunction:
        """
        A tessera.CompiledFunction of run(): one output as a Tensor, several as a tuple.
        """
    def initializers(self) -> list[tuple[str, tessera._C.Tensor]]:
        """
        (name, tensor) for every initializer, in file order: the tensors the model reads.
        """
    def op_histogram(self) -> dict:
        """
        Nodes per operator, sorted by operator name.
        """
    def run(self, inputs: list[tessera._C.Tensor]) -> list[tessera._C.Tensor]:
        """
        Runs the nodes eagerly; the outputs in file order.
        """
    @property
    def inputs(self) -> list[ValueInfo]:
        ...
    @property
    def ir_version(self) -> int:
        ...
    @property
    def num_nodes(self) -> int:
        ...
    @property
    def opset(self) -> int:
        ...
    @property
    def outputs(self) -> list[ValueInfo]:
        ...
    @property
    def producer(self) -> str:
        ...
class ValueInfo:
    """
    A graph input or output as the ONNX file declares it.
    """
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    def __repr__(self) -> str:
        ...
    @property
    def dtype(self) -> tessera._C.dtype:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def shape(self) -> typing.Any:
        """
        A tuple of ints, a symbolic dim as its name (str) or None when unnamed; None when the file declares no shape.
        """
def export_compiled_to_bytes(compiled: tessera._C.CompiledFunction, inputs: list[tessera._C.Tensor], *, opset: int = 17, input_names: list[str] = [], output_names: list[str] = [], dynamic_axes: dict[str, dict[int, str]] = {}, dynamic_batch: bool = False, tensor_names: list[tuple[str, tessera._C.Tensor]] = [], producer_name: str = '') -> tuple:
    ...
def export_function_to_bytes(fn: typing.Callable[[list[tessera._C.Tensor]], list[tessera._C.Tensor]], inputs: list[tessera._C.Tensor], *, opset: int = 17, input_names: list[str] = [], output_names: list[str] = [], dynamic_axes: dict[str, dict[int, str]] = {}, dynamic_batch: bool = False, tensor_names: list[tuple[str, tessera._C.Tensor]] = [], producer_name: str = '') -> tuple:
    """
    fn(list of tensors) -> list of tensors, traced on inputs: (ModelProto bytes, summary).
    """
def import_model(path: str, *, trainable: bool = False, max_tensor_bytes: int | None = None, max_file_bytes: int | None = None) -> Model:
    ...
def import_model_from_bytes(data: bytes, base_dir: str = '', *, trainable: bool = False, max_tensor_bytes: int | None = None, max_file_bytes: int | None = None) -> Model:
    ...
def inspect_file(path: str) -> dict:
    """
    An ONNX or safetensors file's report (as `tessera inspect` prints it), as a dict.
    """
def load_tensor(path: str) -> tessera._C.Tensor:
    """
    A serialized TensorProto (.pb, as ONNX's test data) as a Tensor.
    """
def supported_ops() -> list:
    """
    The operator table: what each ONNX operator imports as, and which Tessera ops export to it.
    """
