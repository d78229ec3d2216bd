"""DER++ on the CPU CNN benchmark, experiences 0-1, seed 0: loss terms and predictions per epoch."""
import sys, json, torch, torch.nn.functional as F
from avalanche.training.plugins import SupervisedPlugin
import isocl.bench.runner as R
from isocl.bench.config import load_benchmark

alpha, beta = float(sys.argv[1]), float(sys.argv[2])

class Probe(SupervisedPlugin):
    def __init__(self):
        super().__init__(); self.acc = None; self.rows = []
    def before_training_epoch(self, strategy, **kw):
        self.acc = dict(n=0, ce_cur=0.0, mse=0.0, ce_buf=0.0, cur_new=0, cur_right=0, ncur=0, buf_right=0, nbuf=0,
                        logit_abs_stored=0.0, out_abs_buf=0.0)
    def after_forward(self, strategy, **kw):
        if getattr(strategy, "replay_loader", None) is None:
            return
        b = strategy.batch_size_mem; out = strategy.mb_output.detach(); y = strategy.mb_y
        a = self.acc; a["n"] += 1
        a["ce_cur"] += float(F.cross_entropy(out[b:], y[b:])); a["mse"] += float(F.mse_loss(out[:b], strategy.batch_logits))
        a["ce_buf"] += float(F.cross_entropy(out[:b], y[:b]))
        pred = out.argmax(1); cls = set(int(c) for c in y[b:].unique())
        a["cur_right"] += int((pred[b:] == y[b:]).sum()); a["ncur"] += len(y) - b
        a["buf_right"] += int((pred[:b] == y[:b]).sum()); a["nbuf"] += b
        a["logit_abs_stored"] += float(strategy.batch_logits.abs().mean()); a["out_abs_buf"] += float(out[:b].abs().mean())
    def after_training_epoch(self, strategy, **kw):
        a = self.acc
        if a["n"]:
            n = a["n"]
            row = dict(exp=strategy.clock.train_exp_counter, ce_cur=a["ce_cur"]/n, mse=a["mse"]/n, ce_buf=a["ce_buf"]/n,
                       train_acc_cur=a["cur_right"]/a["ncur"], train_acc_buf=a["buf_right"]/a["nbuf"],
                       stored_abs_logit=a["logit_abs_stored"]/n, out_abs_logit_buf=a["out_abs_buf"]/n)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)

probe = Probe()
orig = R._unit_plugins
R._unit_plugins = lambda *a, **k: [*orig(*a, **k), probe]
class Stop(Exception): pass
def on_exp(i, avg):
    if i == 1: raise Stop()
bench = load_benchmark("benchmarks/split_cifar10_class_il_cnn_cpu.toml")
res = R.run_unit(bench, "der", 0, params={"alpha": alpha, "beta": beta}, on_experience=on_exp)
print("matrix", [(r["trained_exp"], r["eval_exp"], r["accuracy"]) for r in res.matrix if r["accuracy"] == r["accuracy"]])
