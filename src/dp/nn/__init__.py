"""dp.nn: the high-level part of the paper, built on Node and nothing else.

`Model` (the paper's base class, with `ReLu_Layer` / `Linear_Layer`, `get_grad`, `get_param`,
`set_param`, `save` / `load`) and `Sequential`; layers and activations (`layers`); losses
(`losses`); weight initialisers (`init`); optimizers and the training loop (`optim`).
"""

from dp.nn import init
from dp.nn.layers import (Activation, BatchNorm, Dropout, Layer, LeakyReLU, Linear, LinearLayer, LogSoftmax, ReLU,
                          Sigmoid, Softmax, Tanh, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh)
from dp.nn.losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                          cross_entropy_from_probs, mean_squared_error, mse)
from dp.nn.model import Model, Sequential
from dp.nn.optim import SGD, SGD_Momentum, Adam, Momentum, Optimizer, RMSProp

__all__ = [
    "Activation", "Adam", "BatchNorm", "Dropout", "Layer", "LeakyReLU", "Linear", "LinearLayer", "LogSoftmax",
    "Model", "Momentum", "Optimizer", "RMSProp", "ReLU", "SGD", "SGD_Momentum", "Sequential", "Sigmoid", "Softmax",
    "Tanh", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "cross_entropy_from_probs",
    "init", "leaky_relu", "log_softmax", "mean_squared_error", "mse", "relu", "sigmoid", "softmax", "tanh",
]
