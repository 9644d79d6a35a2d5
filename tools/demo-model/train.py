#!/usr/bin/env python3
"""Trains diffusion4j's built-in demo model and writes it as a diffusers folder.

Stages (``python3 train.py all`` runs them in order; each can be run alone and resumes from --work):
  tokenizer  learn the small BPE vocabulary of the caption words
  vae        train the AutoencoderKL on rendered scenes (reconstruction + a small KL term + latent channels 0-2
             pulled towards the 8x8 mean colour)
  latents    encode a fixed set of scenes with the trained VAE encoder (mean and log-variance)
  decoder    go on training the VAE decoder alone (encoder frozen); meant to run beside `unet` on a second core
  unet       train the CLIP text encoder and the U-Net together: epsilon objective, SD 1.x scaled_linear betas,
             10 % empty captions for classifier-free guidance, offset noise, min-SNR-5 weighting, EMA weights
  export     write <out>/{model_index.json,scheduler,tokenizer,text_encoder,unet,vae} (float32 safetensors)
  preview    sample held-out prompts in Python (DDIM, CFG 7.5) and print a colour/position score

Everything is seeded; CPU only (torch.set_num_threads(--threads)).
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import safetensors_io
import scenes
import tokenizer as bpe
from sdmodels import AutoencoderKL, CLIPTextModel, UNet2DConditionModel

TEXT_CONFIG = {
    "architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "torch_dtype": "float32",
    "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2,
    "max_position_embeddings": 24, "vocab_size": None, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05,
    "projection_dim": 64, "attention_dropout": 0.0, "dropout": 0.0, "initializer_factor": 1.0,
    "initializer_range": 0.02, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None,
}
VAE_CONFIG = {
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.27.2", "act_fn": "silu",
    "block_out_channels": [8, 16, 32, 64],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 8,
    "sample_size": 64, "scaling_factor": None, "force_upcast": True, "latents_mean": None, "latents_std": None,
}
UNET_CONFIG = {
    "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.27.2", "act_fn": "silu",
    "addition_embed_type": None, "attention_head_dim": 4, "block_out_channels": [32, 64],
    "center_input_sample": False, "class_embed_type": None, "conv_in_kernel": 3, "conv_out_kernel": 3,
    "cross_attention_dim": 64, "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1, "dual_cross_attention": False, "flip_sin_to_cos": True, "freq_shift": 0,
    "in_channels": 4, "layers_per_block": 1, "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05, "norm_num_groups": 16, "num_attention_heads": None, "out_channels": 4,
    "sample_size": 8, "transformer_layers_per_block": 1, "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "upcast_attention": False, "use_linear_projection": False, "only_cross_attention": False,
    "resnet_time_scale_shift": "default", "time_embedding_type": "positional",
}
SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.27.2", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False, "num_train_timesteps": 1000,
    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
    "prediction_type": "epsilon", "timestep_spacing": "leading",
}


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def load_tokenizer(work):
    folder = os.path.join(work, "tokenizer")
    with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
        merges = [tuple(line.split()) for line in f.read().strip().split("\n")[1:]]
    return bpe.Tokenizer(vocab, merges)


def text_config(tok):
    cfg = dict(TEXT_CONFIG)
    cfg["vocab_size"] = len(tok.vocab)
    cfg["bos_token_id"] = tok.vocab[bpe.BOS]
    cfg["eos_token_id"] = cfg["pad_token_id"] = tok.vocab[bpe.EOS]
    return cfg


def stage_tokenizer(a):
    tok = bpe.write(os.path.join(a.work, "tokenizer"), scenes.vocabulary_words())
    log(f"tokenizer: {len(tok.vocab)} tokens")


def batch_images(rng, n):
    imgs, texts, objs = [], [], []
    for _ in range(n):
        img, text, scene = scenes.sample(rng)
        imgs.append(img)
        texts.append(text)
        objs.append(scene)
    return torch.from_numpy(np.stack(imgs)), texts, objs


def stage_vae(a):
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    vae = AutoencoderKL(VAE_CONFIG)
    opt = torch.optim.Adam(vae.parameters(), lr=a.vae_lr)
    path = os.path.join(a.work, "vae.pt")
    t0, step, ema = time.time(), 0, None
    budget = a.vae_minutes * 60
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for g in opt.param_groups:
            g["lr"] = a.vae_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        x, _, _ = batch_images(rng, a.vae_batch)
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        y = vae.decode(z)
        rec = (y - x).abs().mean() + ((y - x) ** 2).mean()
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        # Latent channels 0-2 are asked to be the 8x8 mean colour: a colour-ordered latent space is learnt in
        # minutes instead of hours, and the U-Net's job (colour and place) becomes nearly linear. Channel 3 is free.
        aux = ((mean[:, :3] - F.avg_pool2d(x, 8)) ** 2).mean()
        loss = rec + a.kl_weight * kl + a.aux_weight * aux
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        ema = rec.item() if ema is None else 0.98 * ema + 0.02 * rec.item()
        if step % 50 == 0:
            log(f"vae step {step} rec {ema:.4f} kl {kl.item():.2f} aux {aux.item():.4f} "
                f"({(time.time() - t0) / step:.2f} s/step)")
        if step % 200 == 0:
            torch.save(vae.state_dict(), path)
    torch.save(vae.state_dict(), path)
    log(f"vae: {step} steps, rec {ema:.4f}")


def stage_decoder(a):
    """Continues training the decoder alone (encoder frozen, so the U-Net's latents stay valid); runs beside `unet`."""
    torch.manual_seed(4)
    rng = np.random.default_rng(4)
    vae = AutoencoderKL(VAE_CONFIG)
    vae.load_state_dict(torch.load(os.path.join(a.work, "vae.pt")))
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.Adam(params, lr=a.vae_lr * 0.5)
    path = os.path.join(a.work, "vae_decoder.pt")
    t0, step, ema = time.time(), 0, None
    budget = a.decoder_minutes * 60
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for g in opt.param_groups:
            g["lr"] = a.vae_lr * 0.5 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        x, _, _ = batch_images(rng, a.vae_batch)
        with torch.no_grad():
            mean, logvar = vae.encode(x)
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        y = vae.decode(z)
        rec = (y - x).abs().mean() + ((y - x) ** 2).mean()
        opt.zero_grad()
        rec.backward()
        opt.step()
        step += 1
        ema = rec.item() if ema is None else 0.98 * ema + 0.02 * rec.item()
        if step % 50 == 0:
            log(f"decoder step {step} rec {ema:.4f} ({(time.time() - t0) / step:.2f} s/step)")
        if step % 100 == 0:
            torch.save(vae.state_dict(), path + ".tmp")
            os.replace(path + ".tmp", path)
    torch.save(vae.state_dict(), path + ".tmp")
    os.replace(path + ".tmp", path)
    log(f"decoder: {step} steps, rec {ema:.4f}")


def stage_latents(a):
    torch.manual_seed(2)
    rng = np.random.default_rng(2)
    vae = AutoencoderKL(VAE_CONFIG)
    vae.load_state_dict(torch.load(os.path.join(a.work, "vae.pt")))
    vae.eval()
    means, logvars, all_scenes, err = [], [], [], 0.0
    with torch.no_grad():
        for i in range(0, a.latents, 64):
            x, _, objs = batch_images(rng, 64)
            m, lv = vae.encode(x)
            means.append(m)
            logvars.append(lv)
            all_scenes += objs
            if i == 0:
                err = (vae.decode(m) - x).abs().mean().item()
    mean, logvar = torch.cat(means), torch.cat(logvars)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    scale = 1.0 / z.std().item()
    torch.save({"mean": mean, "logvar": logvar, "scenes": all_scenes, "scale": scale}, os.path.join(a.work, "latents.pt"))
    log(f"latents: {len(all_scenes)} scenes, std {z.std().item():.3f} -> scaling_factor {scale:.4f}, "
        f"posterior std {torch.exp(0.5 * logvar).mean().item():.4f}, recon L1 {err:.4f}")


def betas():
    return torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2


def stage_unet(a):
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    tok = load_tokenizer(a.work)
    data = torch.load(os.path.join(a.work, "latents.pt"))
    scale, lat_mean, lat_logvar, scs = data["scale"], data["mean"], data["logvar"], data["scenes"]
    text = CLIPTextModel(text_config(tok))
    unet = UNet2DConditionModel(UNET_CONFIG)
    params = list(text.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=a.unet_lr, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    alphas_cumprod = torch.cumprod(1 - betas(), 0).float()
    uncond = torch.tensor(tok.ids(""))
    cache = {}
    path = os.path.join(a.work, "unet.pt")
    step, t0, avg = 0, time.time(), None
    if os.path.exists(path) and a.resume:
        ck = torch.load(path)
        text.load_state_dict(ck["text"])
        unet.load_state_dict(ck["unet"])
        ema = ck["ema"]
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        log(f"resumed at step {step}")
    budget = a.unet_minutes * 60
    n = lat_mean.shape[0]
    last_save = time.time()

    def save():
        torch.save({"text": text.state_dict(), "unet": unet.state_dict(), "ema": ema, "opt": opt.state_dict(),
                    "step": step, "scale": scale}, path + ".tmp")
        os.replace(path + ".tmp", path)

    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        lr = a.unet_lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.from_numpy(rng.integers(0, n, a.batch))
        m, lv = lat_mean[idx], lat_logvar[idx]
        # The posterior's own noise (std ~0.3 of a 1.2 spread) would teach the U-Net to draw grain: a fraction of it.
        x0 = (m + a.latent_noise * torch.exp(0.5 * lv) * torch.randn_like(m)) * scale
        ids = []
        for i in idx.tolist():
            if rng.random() < 0.1:
                ids.append(uncond)
                continue
            cap = scenes.caption(scs[i], rng)
            if cap in scenes.HELD_OUT:
                cap = scenes.caption(scs[i], rng)
            if cap not in cache:
                cache[cap] = torch.tensor(tok.ids(cap))
            ids.append(cache[cap])
        ids = torch.stack(ids)
        t = torch.from_numpy(rng.integers(0, 1000, a.batch))
        noise = torch.randn_like(x0) + a.offset_noise * torch.randn(x0.shape[0], x0.shape[1], 1, 1)
        ac = alphas_cumprod[t][:, None, None, None]
        xt = ac.sqrt() * x0 + (1 - ac).sqrt() * noise
        pred = unet(xt, t, text(ids))
        snr = ac / (1 - ac)
        w = torch.clamp(snr, max=5.0) / snr
        loss = (w * (pred - noise) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        d = min(a.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(d).add_(p.detach(), alpha=1 - d)
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 25 == 0:
            log(f"unet step {step} loss {avg:.4f} lr {lr:.2e} ({(time.time() - t0) / max(1, step):.2f} s/step)")
        if time.time() - last_save > 120:
            save()
            last_save = time.time()
    save()
    log(f"unet: {step} steps, loss {avg:.4f}")


def trained_models(a):
    """(tokenizer, text, unet, vae, scale) with the EMA weights."""
    tok = load_tokenizer(a.work)
    ck = torch.load(os.path.join(a.work, "unet.pt"))
    text = CLIPTextModel(text_config(tok))
    unet = UNet2DConditionModel(UNET_CONFIG)
    params = list(text.parameters()) + list(unet.parameters())
    with torch.no_grad():
        for p, e in zip(params, ck["ema"] if not a.no_ema else [q.detach() for q in params]):
            p.copy_(e)
    if a.no_ema:
        text.load_state_dict(ck["text"])
        unet.load_state_dict(ck["unet"])
    vae = AutoencoderKL(VAE_CONFIG)
    dec = os.path.join(a.work, "vae_decoder.pt")   # the decoder trained on beside the U-Net, when present
    vae.load_state_dict(torch.load(dec if os.path.exists(dec) else os.path.join(a.work, "vae.pt")))
    return tok, text.eval(), unet.eval(), vae.eval(), ck["scale"], ck["step"]


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def stage_export(a):
    tok, text, unet, vae, scale, step = trained_models(a)
    out = a.out
    for sub in ("scheduler", "tokenizer", "text_encoder", "unet", "vae"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    for name in ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"):
        with open(os.path.join(a.work, "tokenizer", name), "rb") as f, open(os.path.join(out, "tokenizer", name), "wb") as g:
            g.write(f.read())
    meta = {"format": "pt"}
    safetensors_io.save(os.path.join(out, "text_encoder", "model.safetensors"), text.state_dict(), meta)
    safetensors_io.save(os.path.join(out, "unet", "diffusion_pytorch_model.safetensors"), unet.state_dict(), meta)
    safetensors_io.save(os.path.join(out, "vae", "diffusion_pytorch_model.safetensors"), vae.state_dict(), meta)
    write_json(os.path.join(out, "text_encoder", "config.json"), text_config(tok))
    write_json(os.path.join(out, "unet", "config.json"), UNET_CONFIG)
    vcfg = dict(VAE_CONFIG)
    vcfg["scaling_factor"] = round(scale, 5)
    write_json(os.path.join(out, "vae", "config.json"), vcfg)
    write_json(os.path.join(out, "scheduler", "scheduler_config.json"), SCHEDULER_CONFIG)
    write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.27.2",
        "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]})
    counts = {k: sum(p.numel() for p in m.parameters()) for k, m in (("text", text), ("unet", unet), ("vae", vae))}
    log(f"export: {out} (step {step}, scaling_factor {scale:.5f}, parameters {counts})")


@torch.no_grad()
def sample(text, unet, vae, tok, scale, prompts, seed, steps=25, cfg=7.5):
    """DDIM (eta 0, leading spacing) with classifier-free guidance; returns images [N, 3, 64, 64] in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    ac = torch.cumprod(1 - betas(), 0).float()
    cond = text(torch.tensor([tok.ids(p) for p in prompts]))
    unc = text(torch.tensor([tok.ids("")] * len(prompts)))
    x = torch.randn(len(prompts), 4, 8, 8, generator=g)
    ts = list(range(0, 1000, 1000 // steps))[::-1]
    ts = [t + 1 for t in ts]
    for i, t in enumerate(ts):
        tt = torch.full((len(prompts),), t)
        e = unet(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([unc, cond]))
        eu, ec = e.chunk(2)
        e = eu + cfg * (ec - eu)
        a_t = ac[t]
        a_p = ac[ts[i + 1]] if i + 1 < len(ts) else ac[0]
        x0 = (x - (1 - a_t).sqrt() * e) / a_t.sqrt()
        x = a_p.sqrt() * x0 + (1 - a_p).sqrt() * e
    return ((vae.decode(x / scale) + 1) / 2).clamp(0, 1)


def judge(img, colour, where=None, bg=None):
    """True when the image shows `colour` (>= 3 % of pixels nearest to it) with its mass at `where`, on `bg`."""
    names = list(scenes.COLOURS)
    pal = torch.tensor([scenes.COLOURS[n] for n in names], dtype=torch.float32) / 255
    px = img.permute(1, 2, 0).reshape(-1, 3)
    nearest = ((px[:, None, :] - pal[None]) ** 2).sum(-1).argmin(1).reshape(img.shape[1], img.shape[2])
    m = nearest == names.index(colour)
    if m.float().mean() < 0.03:
        return False
    if bg is not None and (nearest == names.index(bg)).float().mean() < 0.3:
        return False
    ys, xs = torch.nonzero(m, as_tuple=True)
    cx, cy = xs.float().mean().item() / img.shape[2], ys.float().mean().item() / img.shape[1]
    return {"left": cx < 0.45, "right": cx > 0.55, "top": cy < 0.45, "bottom": cy > 0.55,
            "centre": abs(cx - 0.5) < 0.15 and abs(cy - 0.5) < 0.15, None: True}[where]


PREVIEW = [("a green square on the left", "green", "left", None),
           ("a yellow triangle on a black background", "yellow", None, "black"),
           ("a red circle on a blue background", "red", None, "blue"),
           ("a blue star on the right", "blue", "right", None),
           ("a white circle at the top on a purple background", "white", "top", "purple"),
           ("an orange square at the bottom", "orange", "bottom", None),
           ("a purple triangle in the centre on a yellow background", "purple", "centre", "yellow"),
           ("a big red star on a white background", "red", None, "white")]


def stage_preview(a):
    tok, text, unet, vae, scale, step = trained_models(a)
    ok, total, rows = 0, 0, []
    for seed in range(a.seeds):
        imgs = sample(text, unet, vae, tok, scale, [p[0] for p in PREVIEW], seed)
        rows.append(imgs)
        for img, (_, c, w, bg) in zip(imgs, PREVIEW):
            ok += judge(img, c, w, bg)
            total += 1
    log(f"preview (step {step}): {ok}/{total} images match their prompt")
    grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)   # [3, seeds*64, 8*64]
    write_ppm(os.path.join(a.work, "preview.ppm"), grid)


def write_ppm(path, img):
    arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    with open(path, "wb") as f:
        f.write(b"P6 %d %d 255\n" % (arr.shape[1], arr.shape[0]))
        f.write(arr.tobytes())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["tokenizer", "vae", "latents", "decoder", "unet", "export", "preview", "all"])
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--out", default=os.path.join(here, "..", "..", "models", "demo"))
    p.add_argument("--work", default="/tmp/d4j-demo-train")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--vae-minutes", type=float, default=12)
    p.add_argument("--vae-batch", type=int, default=16)
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--decoder-minutes", type=float, default=25)
    p.add_argument("--aux-weight", type=float, default=1.0)
    p.add_argument("--kl-weight", type=float, default=1e-4)
    p.add_argument("--latents", type=int, default=16384)
    p.add_argument("--unet-minutes", type=float, default=30)
    p.add_argument("--unet-lr", type=float, default=5e-4)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--latent-noise", type=float, default=0.0,
                   help="fraction of the VAE posterior's std added to the latent mean when training the U-Net")
    p.add_argument("--offset-noise", type=float, default=0.1)
    p.add_argument("--ema", type=float, default=0.998)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-ema", action="store_true")
    p.add_argument("--seeds", type=int, default=4)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    stages = ["tokenizer", "vae", "latents", "unet", "export", "preview"] if a.stage == "all" else [a.stage]
    for s in stages:
        globals()["stage_" + s](a)


if __name__ == "__main__":
    main()
