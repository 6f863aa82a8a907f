#!/usr/bin/env python3
"""TensorFlow 2.x peer runner for ../shared/bench/WORKLOADS.md: the models of WORKLOADS.md
as Keras models, initialized the way PyTorch initializes them (so every framework starts
from the same distribution), under three configurations:

  tensorflow-eager      the Keras model called eagerly (training: GradientTape, eagerly)
  tensorflow-function   the same step or forward inside tf.function (a TensorFlow graph)
  tensorflow-xla        tf.function(jit_compile=True): compiled by XLA

Layout: NHWC (channels last), TensorFlow's CPU layout; the shapes are WORKLOADS.md's with
the channel axis moved last (the flatten then runs over H, W, C: the same layer sizes).
Threads: intra-op and inter-op pools set to --threads before any op; oneDNN on
(TF_ENABLE_ONEDNN_OPTS=1). JSON lines on stdout, notes on stderr.

  tf_peer.py --threads 1 --workload cnn28_infer_b1 --quick
  tf_peer.py --param-counts
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

CONFIGS = ["tensorflow-eager", "tensorflow-function", "tensorflow-xla"]
WORKLOADS = pc.ALL_WORKLOADS

# gemm: a library call (eager) and XLA's; the epoch: graph and XLA (eager would take many
# minutes for what the training-step workloads already show).
ONLY = {"gemm_1024": ["tensorflow-eager", "tensorflow-xla"],
        "cnn28_fmnist_epoch": ["tensorflow-function", "tensorflow-xla"]}
args = pc.parse_args(__doc__, CONFIGS, WORKLOADS, only=ONLY)
T = args.threads
pc.set_thread_env(T)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(T)
tf.config.threading.set_inter_op_parallelism_threads(T)
keras.utils.set_random_seed(args.seed)

VERSION = "tensorflow %s, keras %s" % (tf.__version__, keras.__version__)
rep = pc.Reporter(T, VERSION)
rep.config_of = {
    "tensorflow-eager": "Keras model, eager, oneDNN on",
    "tensorflow-function": "Keras model in tf.function, oneDNN on",
    "tensorflow-xla": "Keras model in tf.function(jit_compile=True)",
}
timer = pc.Timer(args)


# ----------------------------------------------------------------------------- PyTorch's initialization
def torch_default(fan_in):
    """nn.Linear / nn.Conv2d's default: weight and bias uniform in +-1/sqrt(fan_in)."""
    b = 1.0 / np.sqrt(fan_in)
    return dict(kernel_initializer=keras.initializers.RandomUniform(-b, b),
                bias_initializer=keras.initializers.RandomUniform(-b, b))


def conv(cin, cout, k, **kw):
    return layers.Conv2D(cout, k, **torch_default(cin * k * k), **kw)


def dense(fin, fout, **kw):
    return layers.Dense(fout, **torch_default(fin), **kw)


# ----------------------------------------------------------------------------- models
def cnn28():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        conv(1, 32, 3, activation="relu"), conv(32, 64, 3, activation="relu"),
        layers.MaxPooling2D(2), layers.Dropout(0.25), layers.Flatten(),
        dense(9216, 128, activation="relu"), layers.Dropout(0.5), dense(128, 10)], name="cnn28")


def cnn64():
    return keras.Sequential([
        keras.Input((64, 64, 3)),
        conv(3, 32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        conv(32, 64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        conv(64, 128, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), dense(8192, 256, activation="relu"), dense(256, 8)], name="cnn64")


def mlp():
    return keras.Sequential([keras.Input((784,)), dense(784, 512, activation="relu"),
                             dense(512, 512, activation="relu"), dense(512, 10)], name="mlp")


def resnet18():
    """torchvision's resnet18: convolutions without bias, kaiming-normal (fan_out, ReLU)
    initialized; batch norms weight 1, bias 0, eps 1e-5; explicit zero padding as PyTorch."""
    kinit = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")

    def cbn(x, cout, k, stride, pad, relu=True):
        if pad:
            x = layers.ZeroPadding2D(pad)(x)
        x = layers.Conv2D(cout, k, strides=stride, use_bias=False, kernel_initializer=kinit)(x)
        x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)
        return layers.ReLU()(x) if relu else x

    def block(x, cout, stride):
        idn = x
        y = cbn(x, cout, 3, stride, 1)
        y = cbn(y, cout, 3, 1, 1, relu=False)
        if stride != 1 or x.shape[-1] != cout:
            idn = cbn(x, cout, 1, stride, 0, relu=False)
        return layers.ReLU()(layers.Add()([y, idn]))

    inp = keras.Input((224, 224, 3))
    x = cbn(inp, 64, 7, 2, 3)
    x = layers.ZeroPadding2D(1)(x)  # after ReLU, so zeros never win the max
    x = layers.MaxPooling2D(3, 2)(x)
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        x = block(x, cout, stride)
        x = block(x, cout, 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, dense(512, 1000)(x), name="resnet18")


def encoder():
    """nn.TransformerEncoderLayer(256, 4, 1024, relu, dropout 0, batch_first, post-norm) and
    its initialization: in-projection xavier-uniform over the 768x256 matrix, biases zero,
    out-projection weight torch-default, feed-forward torch-default, norms 1 and 0."""
    d, h, ff = 256, 4, 1024
    xb = np.sqrt(6.0 / (d + 3 * d))
    inp = keras.Input((128, d))
    mha = layers.MultiHeadAttention(
        h, d // h, kernel_initializer=keras.initializers.RandomUniform(-xb, xb), bias_initializer="zeros")
    # Keras builds one initializer for q, k, v and the output: give the output PyTorch's own.
    mha.build((None, 128, d), (None, 128, d))
    ob = 1.0 / np.sqrt(d)
    ow = mha._output_dense.kernel
    ow.assign(np.random.uniform(-ob, ob, ow.shape).astype(np.float32))
    x = layers.LayerNormalization(epsilon=1e-5)(inp + mha(inp, inp))
    y = dense(ff, d)(dense(d, ff, activation="relu")(x))
    return keras.Model(inp, layers.LayerNormalization(epsilon=1e-5)(x + y), name="encoder")


MODELS = {"mlp": mlp, "cnn28": cnn28, "cnn64": cnn64, "resnet18": resnet18, "encoder": encoder}
INFER_MODEL = {"cnn28_infer_b1": "cnn28", "cnn28_infer_b256": "cnn28", "cnn64_infer_b1": "cnn64",
               "resnet18_infer_b1": "resnet18", "encoder_infer_b1": "encoder"}


def nhwc(shape):
    return (shape[0], shape[2], shape[3], shape[1]) if len(shape) == 4 else shape


def wrap(cfg, fn):
    if cfg == "tensorflow-function":
        return tf.function(fn)
    if cfg == "tensorflow-xla":
        return tf.function(fn, jit_compile=True)
    return fn


def optimizer(kind):
    # PyTorch's hyper-parameters (Keras' Adam epsilon defaults to 1e-7, PyTorch's to 1e-8).
    if kind == "adam":
        return keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-8)
    return keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)


def make_step(cfg, model, opt):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    opt.build(model.trainable_variables)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return wrap(cfg, step)


# ----------------------------------------------------------------------------- workloads
def run_gemm(cfg):
    a = tf.random.normal((1024, 1024))
    b = tf.random.normal((1024, 1024))
    mm = wrap(cfg, lambda a, b: tf.linalg.matmul(a, b))
    rep.timings("gemm_1024", cfg, timer(lambda: mm(a, b), "gemm_1024"))


def run_train(wl, model_name, batch, in_shape, classes, opt_kind):
    def run(cfg):
        keras.utils.set_random_seed(args.seed)
        model = MODELS[model_name]()
        x = tf.random.normal((batch,) + tuple(in_shape))
        y = tf.random.uniform((batch,), 0, classes, dtype=tf.int64)
        step = make_step(cfg, model, optimizer(opt_kind))
        rep.timings(wl, cfg, timer(lambda: step(x, y), wl))
    return run


def run_infer(wl):
    def run(cfg):
        keras.utils.set_random_seed(args.seed)
        model = MODELS[INFER_MODEL[wl]]()
        x = tf.random.normal(nhwc(pc.INFER_SHAPES[wl]))
        fwd = wrap(cfg, lambda x: model(x, training=False))
        rep.timings(wl, cfg, timer(lambda: fwd(x), wl))
    return run


def run_epoch(cfg):
    xtr, ytr, xte, yte = pc.load_fmnist(args.data_dir)
    xtr, xte = xtr[..., None], xte[..., None]
    keras.utils.set_random_seed(args.seed)
    model = cnn28()
    step = make_step(cfg, model, optimizer("adam"))
    perm = np.random.default_rng(args.seed).permutation(60000)
    t0 = time.perf_counter()
    for i in range(0, 60000, 64):
        idx = perm[i:i + 64]
        step(tf.constant(xtr[idx]), tf.constant(ytr[idx]))
    epoch_s = time.perf_counter() - t0
    correct = 0
    for i in range(0, 10000, 1000):
        pred = np.argmax(model(xte[i:i + 1000], training=False).numpy(), axis=1)
        correct += int((pred == yte[i:i + 1000]).sum())
    rep.epoch(cfg, epoch_s, correct / 10000)


def main():
    if args.param_counts:
        import json
        # Trainable weights only: batch norm's moving statistics are buffers in PyTorch's count.
        print(json.dumps({k: int(sum(np.prod(w.shape) for w in ctor().trainable_weights))
                          for k, ctor in MODELS.items()}))
        return
    pc.log("# %s, intra %d, inter %d" % (VERSION, tf.config.threading.get_intra_op_parallelism_threads(),
                                         tf.config.threading.get_inter_op_parallelism_threads()))
    fns = {
        "gemm_1024": run_gemm,
        "mlp_train_b128": run_train("mlp_train_b128", "mlp", 128, (784,), 10, "sgd"),
        "cnn28_train_b64": run_train("cnn28_train_b64", "cnn28", 64, (28, 28, 1), 10, "adam"),
        "cnn64_train_b32": run_train("cnn64_train_b32", "cnn64", 32, (64, 64, 3), 8, "sgd"),
        "cnn28_fmnist_epoch": run_epoch,
    }
    for wl in INFER_MODEL:
        fns[wl] = run_infer(wl)
    pc.run_all(args, rep, fns)


if __name__ == "__main__":
    main()
