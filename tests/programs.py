"""Small programs the editor-facing tests share: a training loop whose helper in another
file switches the model to eval (a cross-file DG102), and a module with functional dropout
(DG301, a safe fix)."""

LOOP = '''\
import torch
from torch import nn


def train_one_epoch(model, loader, opt):
    for x, y in loader:
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def evaluate(model, loader):
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            model(x)
'''

TRAIN = '''\
import torch
from torch import nn

from loop import evaluate, train_one_epoch


def main(loader):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        train_one_epoch(model, loader, opt)
        evaluate(model, loader)
'''

BLOCK = '''\
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def forward(self, x):
        return F.dropout(x, p=0.1)
'''
